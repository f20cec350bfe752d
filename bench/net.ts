// Peer RPC throughput and latency between two processes on loopback: the server runs in a child
// process so the figures include real socket hops and the two event loops do not share a core's
// time slice by construction.
//   node dist/bench/net.js [--json] [--in-process]
import { spawn, type ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { createDevNetwork } from "../src/net/dev-network.js";
import { createMembershipToken } from "../src/net/membership.js";
import { PeerNetwork } from "../src/net/peer-network.js";
import { createKeyPairSigner } from "../src/net/signer.js";

const SELF = fileURLToPath(import.meta.url);
const ENV_KEY = "FLOWCHAIN_BENCH_NET";

interface ServerSpec {
  networkId: string;
  adminPublicKey: string;
  proof: string;
}

const SEQUENTIAL_CALLS = 5000;
const PIPELINED_CALLS = 50_000;
const WINDOW = 256;
const FRESH_CONNECTIONS = 20;

/** The child: one member that echoes, until its stdin closes (so it never outlives the parent). */
async function serve(spec: ServerSpec): Promise<void> {
  const server = new PeerNetwork({ ...spec, signer: createKeyPairSigner(), host: "127.0.0.1", port: 0 });
  server.handle("echo", async (p) => p);
  await server.listen();
  process.stdout.write(JSON.stringify({ addr: server.addr, id: server.id }) + "\n");
  process.stdin.resume();
  process.stdin.on("end", () => void server.close().then(() => process.exit(0)));
}

async function startServer(
  inProcess: boolean,
  spec: ServerSpec,
): Promise<{ addr: string; stop(): Promise<void> }> {
  if (inProcess) {
    const server = new PeerNetwork({ ...spec, signer: createKeyPairSigner(), host: "127.0.0.1", port: 0 });
    server.handle("echo", async (p) => p);
    await server.listen();
    return { addr: server.addr, stop: () => server.close() };
  }
  const child: ChildProcess = spawn(process.execPath, [SELF, "--serve"], {
    env: { ...process.env, [ENV_KEY]: JSON.stringify(spec) },
    stdio: ["pipe", "pipe", "inherit"],
  });
  const line = await new Promise<string>((resolve, reject) => {
    const rl = createInterface({ input: child.stdout! });
    rl.once("line", (l) => {
      rl.close();
      resolve(l);
    });
    child.once("exit", (code) => reject(new Error(`bench server exited with ${code}`)));
  });
  const { addr } = JSON.parse(line) as { addr: string };
  return {
    addr,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once("exit", () => resolve());
        child.stdin!.end();
      }),
  };
}

function percentile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

const round = (x: number, digits = 3) => Number(x.toFixed(digits));

export async function benchNet(opts: { inProcess?: boolean } = {}): Promise<Record<string, number>> {
  const net = createDevNetwork();
  const spec: ServerSpec = {
    networkId: net.networkId,
    adminPublicKey: net.admin.publicKeyHex,
    proof: createMembershipToken(net.admin, { networkId: net.networkId, name: "bench" }),
  };
  const server = await startServer(opts.inProcess ?? false, spec);
  const client = await net.start({ maxPending: WINDOW * 2 });
  try {
    const to = { addr: server.addr };
    const payload = { key: "a".repeat(64), value: { temperature: 21.5, unit: "C" } };
    for (let i = 0; i < 1000; i++) await client.call(to, "echo", payload);

    const lat: number[] = [];
    let t0 = process.hrtime.bigint();
    for (let i = 0; i < SEQUENTIAL_CALLS; i++) {
      const s = process.hrtime.bigint();
      await client.call(to, "echo", payload);
      lat.push(Number(process.hrtime.bigint() - s) / 1e6);
    }
    const seqSeconds = Number(process.hrtime.bigint() - t0) / 1e9;
    lat.sort((a, b) => a - b);

    // A sliding window of WINDOW outstanding calls over one connection.
    const pipeLat: number[] = [];
    let next = 0;
    t0 = process.hrtime.bigint();
    await Promise.all(
      Array.from({ length: WINDOW }, async () => {
        while (next < PIPELINED_CALLS) {
          next++;
          const s = process.hrtime.bigint();
          await client.call(to, "echo", payload);
          pipeLat.push(Number(process.hrtime.bigint() - s) / 1e6);
        }
      }),
    );
    const pipeSeconds = Number(process.hrtime.bigint() - t0) / 1e9;
    pipeLat.sort((a, b) => a - b);

    // Connection setup: TCP + WebSocket upgrade + mutual Ed25519 handshake + one call.
    t0 = process.hrtime.bigint();
    for (let i = 0; i < FRESH_CONNECTIONS; i++) {
      const fresh = await net.start();
      await fresh.call(to, "echo", null);
      await fresh.close();
    }
    const connectMs = Number(process.hrtime.bigint() - t0) / 1e6 / FRESH_CONNECTIONS;

    return {
      processes: opts.inProcess ? 1 : 2,
      sequentialRoundTripsPerSec: round(SEQUENTIAL_CALLS / seqSeconds, 0),
      sequentialP50Ms: round(percentile(lat, 0.5)),
      sequentialP99Ms: round(percentile(lat, 0.99)),
      pipelinedCallsPerSec: round(PIPELINED_CALLS / pipeSeconds, 0),
      pipelinedWindow: WINDOW,
      pipelinedP50Ms: round(percentile(pipeLat, 0.5)),
      pipelinedP99Ms: round(percentile(pipeLat, 0.99)),
      connectAndFirstCallMs: round(connectMs),
    };
  } finally {
    await client.close();
    await server.stop();
  }
}

if (process.argv[1] === SELF) {
  if (process.argv.includes("--serve")) {
    await serve(JSON.parse(process.env[ENV_KEY] ?? "{}") as ServerSpec);
  } else {
    const figures = await benchNet({ inProcess: process.argv.includes("--in-process") });
    if (process.argv.includes("--json")) {
      process.stdout.write(JSON.stringify(figures) + "\n");
    } else {
      for (const [k, v] of Object.entries(figures)) process.stdout.write(`${k.padEnd(30)} ${v}\n`);
    }
  }
}
