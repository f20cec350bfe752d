// Routing, replication, repair and handoff of real FlowchainNodes in one process (in-memory peer
// transport, real LevelDB): the deterministic twins of the process tests, in seconds.
import test from "ava";
import type { PutResult } from "../src/node/api.js";
import { MemoryCluster } from "./helpers/memory-cluster.js";
import { eventually } from "./helpers/eventually.js";

/** How many live nodes hold the key (as owner or replica). */
async function copies(cluster: MemoryCluster, key: string): Promise<number> {
  let n = 0;
  for (const node of cluster.nodes) {
    if ((await node.ledger.getByKey(key)) ?? (await node.ledger.getReplica(key))) n++;
  }
  return n;
}

/** Indexes of nodes that are not within two ring positions of each other, so no key loses two copies. */
function spreadOut(cluster: MemoryCluster, count: number): number[] {
  const byId = cluster.nodes.map((n, i) => ({ id: n.id, i })).sort((a, b) => (a.id < b.id ? -1 : 1));
  const step = Math.floor(byId.length / count);
  return Array.from({ length: count }, (_, k) => byId[k * step].i);
}

async function inParallel<T, R>(items: T[], concurrency: number, f: (x: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (let i = next++; i < items.length; i = next++) out[i] = await f(items[i]);
    }),
  );
  return out;
}

async function putMany(cluster: MemoryCluster, count: number, concurrency = 32): Promise<PutResult[]> {
  const out: PutResult[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (let i = next++; i < count; i = next++) {
        const via = cluster.nodes[i % cluster.nodes.length];
        out.push(
          await via.put({ value: { i }, source: "urn:test:cluster", timestamp: 1_700_000_000_000 + i }),
        );
      }
    }),
  );
  return out;
}

test.serial(
  "16 nodes: 2,000 acknowledged puts survive 3 crashed nodes, each readable, with 3 copies again",
  async (t) => {
    t.timeout(60_000);
    const t0 = Date.now();
    const cluster = await MemoryCluster.start(16);
    t.teardown(() => cluster.stop());
    await cluster.converged();

    t.log(`16 nodes in one ring after ${Date.now() - t0} ms`);
    const tp = Date.now();
    const acked = await putMany(cluster, 2000);
    t.log(`2,000 puts in ${Date.now() - tp} ms`);
    t.is(acked.length, 2000);
    for (const r of acked.slice(0, 50))
      t.true((await copies(cluster, r.key)) >= 2, "acknowledged with w=2 copies");

    const victims = spreadOut(cluster, 3);
    const t1 = Date.now();
    await Promise.all(victims.map((i) => cluster.crash(i)));
    await cluster.converged(30_000);
    t.log(`one ring again ${Date.now() - t1} ms after 3 crashes`);

    const reader = cluster.nodes[0];
    const read = await inParallel(acked, 32, (r) => reader.get(r.key));
    t.deepEqual(
      read.map((d) => d.txID),
      acked.map((r) => r.txID),
    );
    t.log(`all read back ${Date.now() - t1} ms after the crashes`);
    // Repair restores k copies on the live nodes.
    const missing = await eventually(
      async () => {
        const short: string[] = [];
        for (const r of acked) if ((await copies(cluster, r.key)) < 3) short.push(r.key);
        return short.length === 0 ? short : undefined;
      },
      "three copies of every acknowledged record",
      30_000,
      200,
    );
    t.deepEqual(missing, []);
  },
);

test.serial(
  "a node that joins later takes over its keys, and a restarted node comes back with its data",
  async (t) => {
    t.timeout(60_000);
    const cluster = await MemoryCluster.start(3);
    t.teardown(() => cluster.stop());
    await cluster.converged();
    const acked = await putMany(cluster, 200, 16);

    const late = await cluster.add();
    await cluster.converged();
    const mine = acked.filter((r) => late.chord.isResponsibleFor(r.key));
    await eventually(
      async () => {
        let held = 0;
        for (const r of mine)
          if ((await late.ledger.getReplica(r.key)) ?? (await late.ledger.getByKey(r.key))) held++;
        if (held < mine.length) throw new Error(`${held} of ${mine.length} held`);
        return true;
      },
      "keys handed to the node that joined",
      20_000,
      50,
    );

    const restarted = cluster.node(1).id;
    await cluster.stopNode(1);
    await cluster.converged();
    const back = await cluster.restart(1);
    t.is(back.id, restarted);
    await cluster.converged();
    for (const r of acked) t.is((await back.get(r.key)).txID, r.txID);
  },
);

test.serial("a query across the ring returns every record in time order", async (t) => {
  const cluster = await MemoryCluster.start(4);
  t.teardown(() => cluster.stop());
  await cluster.converged();
  await putMany(cluster, 120, 8);
  const docs = await cluster.nodes[2].query({
    from: 0,
    to: 2_000_000_000_000,
    source: "urn:test:cluster",
    limit: 1000,
  });
  t.is(docs.length, 120);
  t.deepEqual(
    docs.map((d) => d.timestamp),
    [...docs.map((d) => d.timestamp)].sort((a, b) => a - b),
  );
});
