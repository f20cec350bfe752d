// Two Linux network namespaces joined by one veth pair, for partition tests with real processes.
// `cut()` drops every packet on both veth ends (a pfifo qdisc of length 0: a silent cut, nothing
// is refused), `heal()` removes that qdisc. Addresses live only inside these namespaces: nothing is
// routed to or from the host. The test process stays in the host namespace and reaches the nodes
// through an agent (this file, run with `ip netns exec NS node netns.js agent HOST`) that speaks
// JSON lines over its stdio, which crosses namespaces; the agent makes peer-protocol calls and
// TCP probes from inside its namespace.
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { createServer, connect, type Server } from "node:net";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { PeerNetwork, createKeyPairSigner } from "../../src/net/index.js";
import { parseAnyToken } from "../../src/net/membership.js";

const run = promisify(execFile);
const SELF = fileURLToPath(import.meta.url);

/** Every namespace this helper creates is named `fcf-<pid of the creating process>-…`. */
export const NS_PREFIX = "fcf";
const NS_RE = new RegExp(`^${NS_PREFIX}-(\\d+)-`);

async function sh(cmd: string, args: string[]): Promise<string> {
  try {
    return (await run(cmd, args, { timeout: 10_000 })).stdout;
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`${cmd} ${args.join(" ")}: ${e.stderr?.trim() || e.message}`);
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

async function listNamespaces(): Promise<string[]> {
  const out = await sh("ip", ["netns", "list"]);
  return out
    .split("\n")
    .map((l) => l.split(" ")[0])
    .filter(Boolean);
}

/** Kills what runs inside a namespace of ours (only ours ever get here), then deletes it. */
async function deleteNamespace(ns: string): Promise<void> {
  const pids = (await sh("ip", ["netns", "pids", ns]).catch(() => "")).split("\n").filter(Boolean);
  for (const pid of pids) {
    try {
      process.kill(Number(pid), "SIGKILL");
    } catch {
      // already gone
    }
  }
  await sh("ip", ["netns", "del", ns]).catch(() => undefined);
}

/** Deletes namespaces of ours left by a process that is gone, and kills what still runs in them. */
export async function sweepStaleNamespaces(): Promise<string[]> {
  const swept: string[] = [];
  for (const ns of await listNamespaces()) {
    const m = NS_RE.exec(ns);
    if (!m || alive(Number(m[1]))) continue;
    await deleteNamespace(ns);
    swept.push(ns);
  }
  return swept;
}

/** Why namespaces cannot be used here, or undefined when they can (probed by creating one). */
export async function netnsUnavailable(): Promise<string | undefined> {
  if (process.platform !== "linux") return `network namespaces need Linux, this is ${process.platform}`;
  if (process.getuid?.() !== 0) return "network namespaces need root";
  for (const [cmd, args] of [
    ["ip", ["-V"]],
    ["tc", ["-V"]],
  ] as const) {
    try {
      await run(cmd, [...args], { timeout: 10_000 });
    } catch (err) {
      return `\`${cmd}\` is not usable (${(err as Error).message.split("\n")[0]}); install iproute2`;
    }
  }
  const probe = `${NS_PREFIX}-${process.pid}-probe`;
  try {
    await sh("ip", ["netns", "add", probe]);
  } catch (err) {
    return `cannot create a network namespace: ${(err as Error).message}`;
  }
  await sh("ip", ["netns", "del", probe]).catch(() => undefined);
  return undefined;
}

let seq = 0;

export interface Side {
  /** Namespace name, for `ip netns exec`. */
  ns: string;
  /** This side's address on the veth link (a /24 private to the two namespaces). */
  addr: string;
  /** This side's veth end, inside `ns`. */
  dev: string;
}

/** Two namespaces A and B with a veth pair between them; `lo` is up in both. */
export class NetnsPair {
  private destroyed = false;
  private cutNow = false;

  private constructor(
    readonly a: Side,
    readonly b: Side,
  ) {}

  static async create(): Promise<NetnsPair> {
    await sweepStaleNamespaces();
    const n = seq++;
    const tag = `${process.pid}-${n}`;
    // Interface names are at most 15 characters; they exist only inside the namespaces.
    const short = `${NS_PREFIX}${process.pid % 1_000_000}${n % 10}`;
    const net = `10.77.${n % 250}`;
    const a: Side = { ns: `${NS_PREFIX}-${tag}-a`, addr: `${net}.1`, dev: `${short}a` };
    const b: Side = { ns: `${NS_PREFIX}-${tag}-b`, addr: `${net}.2`, dev: `${short}b` };
    const pair = new NetnsPair(a, b);
    try {
      await sh("ip", ["netns", "add", a.ns]);
      await sh("ip", ["netns", "add", b.ns]);
      await sh("ip", [
        "link",
        "add",
        a.dev,
        "netns",
        a.ns,
        "type",
        "veth",
        "peer",
        "name",
        b.dev,
        "netns",
        b.ns,
      ]);
      for (const s of [a, b]) {
        await sh("ip", ["-n", s.ns, "addr", "add", `${s.addr}/24`, "dev", s.dev]);
        await sh("ip", ["-n", s.ns, "link", "set", s.dev, "up"]);
        await sh("ip", ["-n", s.ns, "link", "set", "lo", "up"]);
      }
    } catch (err) {
      await pair.destroy();
      throw err;
    }
    return pair;
  }

  get isCut(): boolean {
    return this.cutNow;
  }

  /** Drops every packet leaving either veth end: no RST, no ICMP, connections just go quiet. */
  async cut(): Promise<void> {
    for (const s of [this.a, this.b])
      await sh("tc", ["-n", s.ns, "qdisc", "replace", "dev", s.dev, "root", "pfifo", "limit", "0"]);
    this.cutNow = true;
  }

  async heal(): Promise<void> {
    for (const s of [this.a, this.b]) await sh("tc", ["-n", s.ns, "qdisc", "del", "dev", s.dev, "root"]);
    this.cutNow = false;
  }

  /** Kills whatever still runs inside the namespaces, then deletes them (and so the veth pair). */
  async destroy(): Promise<void> {
    if (this.destroyed) return;
    this.destroyed = true;
    for (const s of [this.a, this.b]) await deleteNamespace(s.ns);
  }
}

/** What a peer call needs, as PeerNetwork.call takes it; NsAgent and PeerNetwork both fit. */
export interface Caller {
  call(to: { addr: string; id?: string }, method: string, params: unknown): Promise<unknown>;
}

export type ProbeResult = "ok" | "timeout" | `error:${string}`;

interface Request {
  id: number;
  op: "call" | "probe" | "listen";
  [k: string]: unknown;
}

/**
 * A helper process inside a namespace, driven over stdio. It makes peer-protocol calls as an
 * admitted client (with the join token), TCP probes, and tiny TCP servers that answer "pong".
 */
export class NsAgent implements Caller {
  private next = 1;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private readonly exited: Promise<void>;
  private stderr = "";

  private constructor(private readonly child: ChildProcess) {
    this.exited = once(child, "exit").then(() => {
      for (const p of this.pending.values()) p.reject(new Error(`agent exited: ${this.stderr}`));
      this.pending.clear();
    });
    child.stderr!.setEncoding("utf8").on("data", (d: string) => (this.stderr += d));
    createInterface({ input: child.stdout! }).on("line", (line) => {
      let msg: { id: number; result?: unknown; error?: string };
      try {
        msg = JSON.parse(line) as typeof msg;
      } catch {
        return;
      }
      const p = this.pending.get(msg.id);
      if (!p) return;
      this.pending.delete(msg.id);
      if (msg.error !== undefined) p.reject(new Error(msg.error));
      else p.resolve(msg.result);
    });
  }

  /** Starts an agent in `ns` that binds to `host` (its side's address); `token` admits it to a network. */
  static start(ns: string, host: string, token = ""): NsAgent {
    const child = spawn("ip", ["netns", "exec", ns, process.execPath, SELF, "agent", host, token], {
      stdio: ["pipe", "pipe", "pipe"],
    });
    return new NsAgent(child);
  }

  private request(op: Request["op"], body: Record<string, unknown>): Promise<unknown> {
    const id = this.next++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.child.stdin!.write(JSON.stringify({ id, op, ...body }) + "\n");
    });
  }

  call(
    to: { addr: string; id?: string },
    method: string,
    params: unknown,
    timeoutMs = 10_000,
  ): Promise<unknown> {
    return this.request("call", { addr: to.addr, nodeId: to.id, method, params, timeoutMs });
  }

  /** Connects to host:port and reads the first data; a silent network gives "timeout". */
  probe(host: string, port: number, timeoutMs = 2_000): Promise<ProbeResult> {
    return this.request("probe", { host, port, timeoutMs }) as Promise<ProbeResult>;
  }

  /** A TCP server in the agent's namespace that writes "pong" to each connection; its port. */
  listen(host: string): Promise<number> {
    return this.request("listen", { host }) as Promise<number>;
  }

  async close(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill("SIGKILL");
    await this.exited;
  }
}

// ---- the agent side, run inside a namespace ----

async function agentMain(host: string, token: string): Promise<void> {
  let net: PeerNetwork | undefined;
  const servers: Server[] = [];
  const peer = async () => {
    if (net) return net;
    const p = parseAnyToken(token).payload;
    net = new PeerNetwork({
      signer: createKeyPairSigner(),
      networkId: p.network,
      adminPublicKey: p.adminPublicKey,
      proof: token,
      host,
      port: 0,
      requestTimeoutMs: 10_000,
    });
    await net.listen();
    return net;
  };
  const probe = (h: string, port: number, timeoutMs: number) =>
    new Promise<ProbeResult>((resolve) => {
      const s = connect({ host: h, port });
      const done = (r: ProbeResult) => {
        clearTimeout(timer);
        s.destroy();
        resolve(r);
      };
      const timer = setTimeout(() => done("timeout"), timeoutMs);
      s.once("data", (d) => done(d.toString() === "pong" ? "ok" : `error:unexpected ${d.toString()}`));
      s.once("error", (e: NodeJS.ErrnoException) => done(`error:${e.code ?? e.message}`));
    });
  const handle = async (req: Request): Promise<unknown> => {
    switch (req.op) {
      case "call": {
        const n = await peer();
        return n.call(
          { addr: req.addr as string, id: req.nodeId as string | undefined },
          req.method as string,
          req.params,
          {
            timeoutMs: req.timeoutMs as number,
          },
        );
      }
      case "probe":
        return probe(req.host as string, req.port as number, req.timeoutMs as number);
      case "listen": {
        const s = createServer((c) => c.end("pong"));
        servers.push(s);
        s.listen(0, req.host as string);
        await once(s, "listening");
        return (s.address() as { port: number }).port;
      }
    }
  };
  createInterface({ input: process.stdin })
    .on("line", (line) => {
      const req = JSON.parse(line) as Request;
      handle(req).then(
        (result) => process.stdout.write(JSON.stringify({ id: req.id, result: result ?? null }) + "\n"),
        (err: unknown) => process.stdout.write(JSON.stringify({ id: req.id, error: String(err) }) + "\n"),
      );
    })
    .on("close", () => {
      for (const s of servers) s.close();
      void (net?.close() ?? Promise.resolve()).finally(() => process.exit(0));
    });
}

if (process.argv[1] === SELF && process.argv[2] === "agent") {
  void agentMain(process.argv[3], process.argv[4] ?? "");
}
