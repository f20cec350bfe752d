// Runs real `flowchain start` processes on 127.0.0.1 with free ports and temp data dirs, and a
// peer-protocol client admitted with the network's join token, for multi-process tests.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { PeerNetwork, createKeyPairSigner, type NodeSigner } from "../../src/net/index.js";
import { parseAnyToken } from "../../src/net/membership.js";
import type { RingInfo } from "../../src/node/api.js";
import { eventually } from "./eventually.js";
import { pool } from "./pool.js";

const READY_MS = 60_000;
const CLI = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "src", "cli.js");

export interface NodeProc {
  dataDir: string;
  id: string;
  peer: string;
  td?: string;
  coap?: string;
  child: ChildProcess;
  exited: Promise<number | null>;
  output: () => string;
  /** The options it was started with (its data dir included), for restarting it. */
  options?: StartOptions;
}

export interface StartOptions {
  dataDir?: string;
  join?: string;
  token?: string;
  wot?: boolean;
  args?: string[];
  env?: Record<string, string>;
  /** Flags for node itself, e.g. --cpu-prof for a benchmark's profile. */
  nodeArgs?: string[];
  /** The address the node binds and advertises (`--host`); default 127.0.0.1. */
  host?: string;
  /** Peer port (`--port`), e.g. a restarted node's old one so its address stays the same; default 0. */
  port?: number;
  /** Runs the node inside this network namespace (`ip netns exec NS node ...`, see netns.ts). */
  netns?: string;
}

/** What waitForRing needs to ask a node for its ring: a PeerNetwork, or an agent in a namespace. */
export interface RingCaller {
  call(to: { addr: string; id?: string }, method: string, params: unknown): Promise<unknown>;
}

export class Cluster {
  readonly nodes: NodeProc[] = [];
  private readonly dirs: string[] = [];
  private readonly clients: PeerNetwork[] = [];
  /** Every child, ready or not: one that never got ready is stopped too. */
  private readonly children: ChildProcess[] = [];
  private ringClient: Promise<PeerNetwork> | undefined;

  async tempDir(): Promise<string> {
    const d = await mkdtemp(join(tmpdir(), "flowchain-test-"));
    this.dirs.push(d);
    return d;
  }

  async start(opts: StartOptions = {}): Promise<NodeProc> {
    const dataDir = opts.dataDir ?? (await this.tempDir());
    const host = opts.host ?? "127.0.0.1";
    const args = [CLI, "start", "--data", dataDir, "--host", host, "--port", String(opts.port ?? 0)];
    args.push("--http-port", "0", "--coap-port", "0", "--ws-port", "0");
    if (opts.wot === false) args.push("--no-wot");
    // The token travels as the CLI says it should: through the environment, not the process list.
    if (opts.join) args.push("--join", opts.join);
    args.push(...(opts.args ?? []));
    const argv = [...(opts.nodeArgs ?? []), ...args];
    // `ip netns exec` execs node in place, so the child's pid (and its signals) are node's own.
    const [cmd, cmdArgs] = opts.netns
      ? ["ip", ["netns", "exec", opts.netns, process.execPath, ...argv]]
      : [process.execPath, argv];
    const child = spawn(cmd, cmdArgs, {
      env: { ...process.env, ...(opts.join ? { FLOWCHAIN_TOKEN: opts.token ?? "" } : {}), ...opts.env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    this.children.push(child);
    let out = "";
    let err = "";
    child.stdout!.setEncoding("utf8").on("data", (d: string) => (out += d));
    child.stderr!.setEncoding("utf8").on("data", (d: string) => (err += d));
    const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
    await new Promise<void>((resolve, reject) => {
      // A deadline for failing with the node's output, not a wait: start-up takes about a second.
      const deadline = setTimeout(
        () => reject(new Error(`node not ready after ${READY_MS} ms:\n${out}\n${err}`)),
        READY_MS,
      );
      const onData = () => {
        if (/^ready$/m.test(out)) {
          child.stdout!.off("data", onData);
          clearTimeout(deadline);
          resolve();
        }
      };
      child.stdout!.on("data", onData);
      void exited.then((code) => {
        clearTimeout(deadline);
        reject(new Error(`node exited (${code}) before ready:\n${out}\n${err}`));
      });
    });
    const field = (name: string) => new RegExp(`^${name}\\s+(\\S+)`, "m").exec(out)?.[1];
    const proc: NodeProc = {
      dataDir,
      id: field("node")!,
      peer: field("peer")!,
      td: field("td"),
      coap: field("coap"),
      child,
      exited,
      output: () => out + err,
      options: { ...opts, dataDir },
    };
    this.nodes.push(proc);
    return proc;
  }

  async token(first: NodeProc): Promise<string> {
    return (await readFile(join(first.dataDir, "join-token"), "utf8")).trim();
  }

  /**
   * A peer-protocol client admitted with the join token (it does not enter the ring); with a fresh
   * key unless `opts.signer` gives one (a rogue's own, or a removed member's).
   */
  async client(token: string, opts: { tls?: boolean; signer?: NodeSigner } = {}): Promise<PeerNetwork> {
    const p = parseAnyToken(token).payload;
    const net = new PeerNetwork({
      signer: opts.signer ?? createKeyPairSigner(),
      networkId: p.network,
      adminPublicKey: p.adminPublicKey,
      proof: token,
      host: "127.0.0.1",
      port: 0,
      requestTimeoutMs: 10_000,
      tls: opts.tls,
    });
    await net.listen();
    this.clients.push(net);
    return net;
  }

  /**
   * Resolves once every node's successor and predecessor match the sorted order of `nodes`.
   * `via` asks the nodes instead of this cluster's own client, e.g. from inside a namespace.
   */
  async waitForRing(
    token: string,
    nodes: NodeProc[] = this.nodes,
    timeoutMs = 60_000,
    via?: RingCaller,
  ): Promise<void> {
    const client: RingCaller = via ?? (await (this.ringClient ??= this.client(token)));
    const sorted = [...nodes].sort((a, b) => (a.id < b.id ? -1 : 1));
    const isSorted = async () => {
      const rings = await Promise.all(
        nodes.map((n) => client.call({ addr: n.peer, id: n.id }, "node.ring", {}) as Promise<RingInfo>),
      );
      return rings.every((r) => {
        const i = sorted.findIndex((n) => n.id === r.id);
        const succ = sorted[(i + 1) % sorted.length].id;
        const pred = sorted[(i - 1 + sorted.length) % sorted.length].id;
        return r.successors[0]?.id === succ && r.predecessor?.id === pred;
      });
    };
    await eventually(isSorted, "ring convergence", timeoutMs, 250);
  }

  /** Each node's successor and predecessor as short ids ("ab12 -> cd34 (pred ef56)"), for a failure's log. */
  async describeRing(via: RingCaller, nodes: NodeProc[]): Promise<string> {
    const short = (id: string | undefined) => id?.slice(0, 6) ?? "none";
    const lines = await Promise.all(
      [...nodes]
        .sort((a, b) => (a.id < b.id ? -1 : 1))
        .map(async (n) => {
          try {
            const r = (await via.call({ addr: n.peer, id: n.id }, "node.ring", {})) as RingInfo;
            return `${short(n.id)} -> ${short(r.successors[0]?.id)} (pred ${short(r.predecessor?.id)})`;
          } catch (err) {
            return `${short(n.id)}: ${String(err)}`;
          }
        }),
    );
    return lines.join("; ");
  }

  /**
   * Resolves once every record reads back (`node.get`) with its value through every node of
   * `nodes`; asks again for what failed until the deadline, then throws with how many still fail.
   */
  async waitForReadable(
    via: RingCaller,
    nodes: NodeProc[],
    records: { key: string; value: unknown }[],
    timeoutMs: number,
  ): Promise<void> {
    let pending = nodes.flatMap((node) => records.map((r) => ({ node, r })));
    const total = pending.length;
    try {
      await eventually(
        async () => {
          const ok = await pool(pending.length, 16, async (j) => {
            const { node, r } = pending[j];
            try {
              const doc = (await via.call({ addr: node.peer, id: node.id }, "node.get", { key: r.key })) as {
                value: unknown;
              };
              return JSON.stringify(doc.value) === JSON.stringify(r.value);
            } catch {
              return false;
            }
          });
          pending = pending.filter((_, j) => !ok[j]);
          return pending.length === 0;
        },
        `${records.length} records readable from ${nodes.length} nodes`,
        timeoutMs,
        500,
      );
    } catch (err) {
      throw new Error(`${(err as Error).message}: ${pending.length} of ${total} reads still failing`);
    }
  }

  /** A first node and `n - 1` more joined through it, converged; with the join token. */
  async ring(n: number, opts: StartOptions = {}): Promise<{ first: NodeProc; token: string }> {
    const first = await this.start(opts);
    const token = await this.token(first);
    for (let i = 1; i < n; i++) await this.start({ ...opts, join: first.peer, token });
    await this.waitForRing(token);
    return { first, token };
  }

  /**
   * Starts a stopped node again: same data dir, host, namespace and peer port (so its address
   * stays what the others knew), without --join unless `opts` gives one.
   */
  async restart(node: NodeProc, opts: StartOptions = {}): Promise<NodeProc> {
    const port = Number(node.peer.slice(node.peer.lastIndexOf(":") + 1));
    return this.start({ ...node.options, join: undefined, token: undefined, port, ...opts });
  }

  async kill(node: NodeProc, signal: NodeJS.Signals = "SIGKILL"): Promise<number | null> {
    if (node.child.exitCode === null && node.child.signalCode === null) node.child.kill(signal);
    return node.exited;
  }

  async stop(): Promise<void> {
    await Promise.all(this.clients.map((c) => c.close().catch(() => undefined)));
    await Promise.all(this.nodes.map((n) => this.kill(n, "SIGKILL")));
    for (const c of this.children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
    await Promise.all(this.dirs.map((d) => rm(d, { recursive: true, force: true })));
  }
}
