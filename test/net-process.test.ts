// Bad input against a node running in its own process, as on a real peer port: the process must
// survive, keep serving members and keep its memory bounded, measured in that process.
import test from "ava";
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { PeerNetwork } from "../src/net/peer-network.js";
import { createKeyPairSigner } from "../src/net/signer.js";
import { RawPeer } from "../src/net/dev-network.js";

const DEV_NETWORK = fileURLToPath(new URL("../src/net/dev-network.js", import.meta.url));

// The child mints the network and hands the test a member token: the test then joins like any node.
const CHILD = `
import { createDevNetwork } from ${JSON.stringify(DEV_NETWORK)};
import { createMembershipToken } from ${JSON.stringify(DEV_NETWORK.replace("dev-network.js", "membership.js"))};
const net = createDevNetwork();
const node = await net.start({ maxFrameBytes: 65536 });
node.handle("echo", async (p) => p);
node.handle("memory", async () => process.memoryUsage());
console.log(JSON.stringify({
  addr: node.addr, id: node.id, networkId: net.networkId, adminPublicKey: net.admin.publicKeyHex,
  proof: createMembershipToken(net.admin, { networkId: net.networkId, name: "test" }),
}));
process.stdin.resume();
process.stdin.on("end", () => process.exit(0));
`;

test("a node process under garbage from many connections stays up, serves members, memory bounded", async (t) => {
  const child = spawn(process.execPath, ["--input-type=module", "-e", CHILD], {
    stdio: ["pipe", "pipe", "inherit"],
  });
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  t.teardown(() => {
    if (child.exitCode === null) child.kill("SIGKILL");
  });
  const info = JSON.parse(
    await new Promise<string>((resolve, reject) => {
      createInterface({ input: child.stdout }).once("line", resolve);
      child.once("exit", (code) => reject(new Error(`child exited with ${code}`)));
    }),
  ) as { addr: string; id: string; networkId: string; adminPublicKey: string; proof: string };

  const me = new PeerNetwork({ ...info, signer: createKeyPairSigner(), host: "127.0.0.1", port: 0 });
  t.teardown(() => me.close());
  await me.listen();
  const to = { addr: info.addr, id: info.id };
  t.is(await me.call(to, "echo", "hello"), "hello");
  const before = (await me.call(to, "memory", null)) as NodeJS.MemoryUsage;

  const garbage = [
    () => randomBytes(256).toString("hex"),
    () => "z".repeat(100_000), // over the 64 KiB frame limit
    () => '{"t":"gossip"}',
    () => JSON.stringify({ t: "req", id: 1, m: "echo", p: "no handshake" }),
    () => JSON.stringify({ t: "hello", v: 1, networkId: info.networkId }),
    () => Buffer.from([0, 1, 2]),
  ];
  let frames = 0;
  for (let round = 0; round < 5; round++) {
    const peers = Array.from({ length: 40 }, () => new RawPeer(info.addr));
    await Promise.all(
      peers.map(async (p, i) => {
        await p.opened;
        for (let f = 0; f < 50; f++, frames++) p.ws.send(garbage[(i + f) % garbage.length]());
      }),
    );
    const closes = await Promise.all(peers.map((p) => p.closed));
    t.true(closes.every((c) => c.code !== 1000));
  }
  t.true(frames >= 10_000);

  t.is(await me.call(to, "echo", "still here"), "still here");
  const after = (await me.call(to, "memory", null)) as NodeJS.MemoryUsage;
  const mib = (n: number) => (n / 2 ** 20).toFixed(1);
  t.log(
    `${frames} bad frames; heap ${mib(before.heapUsed)} -> ${mib(after.heapUsed)} MiB, rss ${mib(before.rss)} -> ${mib(after.rss)} MiB`,
  );
  // The heap is what the node keeps on behalf of peers; rss also holds the allocator's socket
  // buffers, which plateau (~60 MiB over baseline at 40,000 frames) rather than grow per frame.
  t.true(after.heapUsed - before.heapUsed < 32 * 2 ** 20, "heap grew by more than 32 MiB");
  t.true(after.rss - before.rss < 128 * 2 ** 20, "rss grew by more than 128 MiB");
  t.is(child.exitCode, null);
  child.stdin.end();
  t.is(await exited, 0);
});
