// A real partition: five node processes, three in namespace A and two in B, one ring; the veth
// link between A and B is cut silently for 30 s while both sides take puts, then healed. The ring
// must become one again and every acknowledged put must be readable from every node.
import test from "ava";
import { Cluster, type NodeProc } from "./helpers/cluster.js";
import { NetnsPair, NsAgent, netnsUnavailable } from "./helpers/netns.js";

const CUT_MS = 30_000;
const MERGE_MS = 60_000;
/** Puts in flight per side during the cut. */
const WRITERS = 2;
/**
 * Puts started per second per side at most: an unpaced side A acknowledges ~400/s, and reading
 * every acknowledged record back from every node must stay within the test's time.
 */
const PUTS_PER_SECOND = 25;

const unavailable = await netnsUnavailable();
if (unavailable) console.log(`fault-partition: skipping, ${unavailable}`);
const nsTest = unavailable ? test.skip : test;

interface Acked {
  key: string;
  i: number;
  side: "A" | "B";
}

nsTest("a 3|2 partition of a 5-node ring heals into one ring and keeps every acknowledged put", async (t) => {
  t.timeout(240_000);
  const pair = await NetnsPair.create();
  const cluster = new Cluster();
  const agents: NsAgent[] = [];
  t.teardown(async () => {
    await Promise.all(agents.map((a) => a.close()));
    await cluster.stop();
    await pair.destroy();
  });

  const inA = { wot: false, netns: pair.a.ns, host: pair.a.addr };
  const inB = { wot: false, netns: pair.b.ns, host: pair.b.addr };
  const first = await cluster.start(inA);
  const token = await cluster.token(first);
  const agentA = NsAgent.start(pair.a.ns, pair.a.addr, token);
  const agentB = NsAgent.start(pair.b.ns, pair.b.addr, token);
  agents.push(agentA, agentB);
  const sideA: NodeProc[] = [first];
  const sideB: NodeProc[] = [];
  for (let i = 0; i < 2; i++) sideA.push(await cluster.start({ ...inA, join: first.peer, token }));
  for (let i = 0; i < 2; i++) sideB.push(await cluster.start({ ...inB, join: first.peer, token }));
  const all = [...sideA, ...sideB];
  await cluster.waitForRing(token, all, 60_000, agentA);

  await pair.cut();
  const cutAt = Date.now();
  let next = 0;
  const acked: Acked[] = [];
  const refused = { A: 0, B: 0 };
  const slots = { A: 0, B: 0 };
  const writer = async (side: "A" | "B", agent: NsAgent, nodes: NodeProc[]) => {
    for (;;) {
      // Pacing, not waiting for a condition: the side's next put starts at its slot in the schedule.
      const at = cutAt + (slots[side]++ * 1000) / PUTS_PER_SECOND;
      if (at - cutAt >= CUT_MS) return;
      if (at > Date.now()) await new Promise((r) => setTimeout(r, at - Date.now()));
      const i = next++;
      const via = nodes[i % nodes.length];
      try {
        const r = (await agent.call({ addr: via.peer, id: via.id }, "node.put", {
          value: { side, i },
          source: `partition-${side}`,
          timestamp: 1_700_000_000_000 + i,
        })) as { key: string };
        acked.push({ key: r.key, i, side });
      } catch {
        refused[side]++;
      }
    }
  };
  // Each side forming its own ring is not asserted (a fix may keep the minority read-only), only logged.
  const sideRing = (nodes: NodeProc[], agent: NsAgent, name: string) =>
    cluster
      .waitForRing(token, nodes, CUT_MS - 1_000, agent)
      .then(() => t.log(`side ${name} is a ring of ${nodes.length} after ${(Date.now() - cutAt) / 1000} s`))
      .catch(() => t.log(`side ${name} did not form a ring of its own during the cut`));
  const writers = [
    ...Array.from({ length: WRITERS }, () => writer("A", agentA, sideA)),
    ...Array.from({ length: WRITERS }, () => writer("B", agentB, sideB)),
  ];
  await Promise.all([sideRing(sideA, agentA, "A"), sideRing(sideB, agentB, "B")]);
  // The cut lasts CUT_MS whatever the writers do; puts in flight at the heal finish after it.
  await new Promise((r) => setTimeout(r, Math.max(0, cutAt + CUT_MS - Date.now())));
  await pair.heal();
  const healAt = Date.now();
  await Promise.all(writers);
  for (const side of ["A", "B"] as const) {
    const n = acked.filter((a) => a.side === side).length;
    t.log(
      `side ${side}: ${n} puts acknowledged, ${refused[side]} refused during the cut: ${((n * 1000) / CUT_MS).toFixed(1)} puts/s (at most ${PUTS_PER_SECOND} started per second)`,
    );
  }

  // Within MERGE_MS of the heal, however long the puts in flight at the heal took to finish.
  await cluster
    .waitForRing(token, all, Math.max(1, healAt + MERGE_MS - Date.now()), agentA)
    .catch(async (err: Error) => {
      t.log(`no single ring ${MERGE_MS / 1000} s after the heal: ${await cluster.describeRing(agentA, all)}`);
      throw err;
    });
  const mergeSeconds = (Date.now() - healAt) / 1000;
  t.log(`one ring ${mergeSeconds.toFixed(1)} s after the heal`);
  t.true(mergeSeconds <= MERGE_MS / 1000, "one ring within the deadline after the heal");
  t.true(
    acked.some((a) => a.side === "A") && acked.some((a) => a.side === "B"),
    "both sides acknowledged puts while the link was cut",
  );

  // Every acknowledged record from every node; what is not readable yet is asked again until the deadline.
  const readStart = Date.now();
  const records = acked.map((a) => ({ key: a.key, value: { side: a.side, i: a.i } }));
  await cluster.waitForReadable(agentA, all, records, 60_000);
  t.pass(`every acknowledged record is readable from all ${all.length} nodes`);
  t.log(
    `${acked.length} records x ${all.length} nodes readable ${((Date.now() - readStart) / 1000).toFixed(1)} s after one ring`,
  );
});
