// Proves the partition harness itself: traffic crosses the veth pair, a cut silences it (a
// connection attempt times out, nothing refuses it), a heal restores it; a node started inside a
// namespace advertises its namespace address and is reachable from the other side the same way.
import test from "ava";
import { Cluster } from "./helpers/cluster.js";
import { eventually } from "./helpers/eventually.js";
import { NetnsPair, NsAgent, netnsUnavailable } from "./helpers/netns.js";

const unavailable = await netnsUnavailable();
if (unavailable) console.log(`fault-netns: skipping, ${unavailable}`);
const nsTest = unavailable ? test.skip : test.serial;

nsTest(
  "a TCP server in namespace A is reachable from B, silent during a cut, reachable after heal",
  async (t) => {
    const pair = await NetnsPair.create();
    const agents: NsAgent[] = [];
    t.teardown(async () => {
      await Promise.all(agents.map((a) => a.close()));
      await pair.destroy();
    });
    const inA = NsAgent.start(pair.a.ns, pair.a.addr);
    const inB = NsAgent.start(pair.b.ns, pair.b.addr);
    agents.push(inA, inB);
    const port = await inA.listen(pair.a.addr);
    const portB = await inB.listen(pair.b.addr);

    t.is(await inB.probe(pair.a.addr, port), "ok");
    t.is(await inA.probe(pair.b.addr, portB), "ok");
    // The server listens on A's veth address only; A's own loopback is up and refuses, loudly.
    t.is(await inA.probe("127.0.0.1", port), "error:ECONNREFUSED", "lo is up in A");

    await pair.cut();
    t.is(await inB.probe(pair.a.addr, port, 1_500), "timeout", "B -> A is silent during the cut");
    t.is(await inA.probe(pair.b.addr, portB, 1_500), "timeout", "A -> B too");
    t.is(await inA.probe(pair.a.addr, port), "ok", "inside A traffic still flows");

    await pair.heal();
    // A SYN dropped during the cut is retransmitted after ~1 s; a fresh connection needs no wait.
    t.is(await inB.probe(pair.a.addr, port), "ok", "reachable again after heal");

    await pair.cut();
    t.is(await inB.probe(pair.a.addr, port, 1_500), "timeout", "a second cut works too");
    await pair.heal();
    t.is(await inB.probe(pair.a.addr, port), "ok");
  },
);

nsTest(
  "a node started in namespace A advertises A's address and answers B's agent except during a cut",
  async (t) => {
    const pair = await NetnsPair.create();
    const cluster = new Cluster();
    const agents: NsAgent[] = [];
    t.teardown(async () => {
      await Promise.all(agents.map((a) => a.close()));
      await cluster.stop();
      await pair.destroy();
    });
    const node = await cluster.start({ wot: false, netns: pair.a.ns, host: pair.a.addr });
    t.true(node.peer.startsWith(`${pair.a.addr}:`), node.peer);
    const b = NsAgent.start(pair.b.ns, pair.b.addr, await cluster.token(node));
    agents.push(b);
    const info = (await b.call({ addr: node.peer, id: node.id }, "node.info", {})) as {
      id: string;
      addr: string;
    };
    t.is(info.id, node.id);
    t.is(info.addr, node.peer);

    await pair.cut();
    const started = Date.now();
    const err = await t.throwsAsync(b.call({ addr: node.peer, id: node.id }, "node.info", {}, 2_000));
    t.log(`during the cut: ${err?.message} after ${Date.now() - started} ms`);
    t.regex(err?.message ?? "", /timed? ?out|timeout/i);

    await pair.heal();
    // The peer layer may hold the half-dead connection until its own timeout; poll for recovery.
    const healed = Date.now();
    await eventually(
      async () =>
        ((await b.call({ addr: node.peer, id: node.id }, "node.info", {}, 2_000)) as { id: string }).id ===
        node.id,
      "node.info across the healed link",
      20_000,
      200,
    );
    t.log(`reachable ${Date.now() - healed} ms after heal`);
  },
);

test.serial("no namespace of this process is left after the tests above", async (t) => {
  if (unavailable) return t.pass();
  const { execFileSync } = await import("node:child_process");
  const left = execFileSync("ip", ["netns", "list"], { encoding: "utf8" })
    .split("\n")
    .filter((l) => l.startsWith(`fcf-${process.pid}-`));
  t.deepEqual(left, []);
});
