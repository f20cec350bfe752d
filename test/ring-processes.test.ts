import test from "ava";
import { Identity } from "../src/ledger/identity.js";
import type { PeerNetwork } from "../src/net/index.js";
import { Cluster, type NodeProc } from "./helpers/cluster.js";
import { eventually } from "./helpers/eventually.js";
import { pool } from "./helpers/pool.js";

async function preparedDirs(cluster: Cluster, n: number): Promise<{ dir: string; id: string }[]> {
  const out = [];
  for (let i = 0; i < n; i++) {
    const dir = await cluster.tempDir();
    out.push({ dir, id: (await Identity.loadOrCreate(dir, "node.key")).id });
  }
  return out;
}

/** Index in `sorted` of successor(key): the first node at or after the key, wrapping to the first. */
function ownerIndex(sorted: NodeProc[], key: string): number {
  return Math.max(
    0,
    sorted.findIndex((n) => n.id >= key),
  );
}

/** Copies missing from successor(key) and the next two nodes, over every record. */
async function missingCopies(
  client: PeerNetwork,
  nodes: NodeProc[],
  records: { key: string }[],
): Promise<number> {
  const sorted = [...nodes].sort((x, y) => (x.id < y.id ? -1 : 1));
  let missing = 0;
  for (const r of records) {
    const at = ownerIndex(sorted, r.key);
    for (let k = 0; k < Math.min(3, sorted.length); k++) {
      const holder = sorted[(at + k) % sorted.length];
      if (!(await client.call({ addr: holder.peer }, "store.get", { key: r.key }))) missing++;
    }
  }
  return missing;
}

for (const order of ["ascending", "descending", "random"] as const) {
  test(`six nodes joining one in ${order} id order converge to the sorted ring`, async (t) => {
    const cluster = new Cluster();
    t.teardown(() => cluster.stop());
    const first = await cluster.start({ wot: false });
    const token = await cluster.token(first);
    const dirs = await preparedDirs(cluster, 6);
    if (order === "ascending") dirs.sort((a, b) => (a.id < b.id ? -1 : 1));
    if (order === "descending") dirs.sort((a, b) => (a.id < b.id ? 1 : -1));
    for (const d of dirs) await cluster.start({ dataDir: d.dir, join: first.peer, token, wot: false });
    t.is(cluster.nodes.length, 7);
    await cluster.waitForRing(token);
    t.pass();
  });
}

test("1,000 records put through A are read back through C and live on successor(key) and its replicas", async (t) => {
  const cluster = new Cluster();
  t.teardown(() => cluster.stop());
  const { first: a, token } = await cluster.ring(5, { wot: false });
  const client = await cluster.client(token);
  const c = cluster.nodes[2];

  const results = (await pool(1000, 32, (i) => {
    const value = { reading: i, unit: "C", nested: { a: [i, "x"] } };
    return client.call({ addr: a.peer }, "node.put", {
      value,
      source: "sensor-1",
      timestamp: 1_700_000_000_000 + i,
    });
  })) as { key: string; owner: string }[];
  const sorted = [...cluster.nodes].sort((x, y) => (x.id < y.id ? -1 : 1));
  const successorOf = (key: string) => ownerIndex(sorted, key);

  let wrongOwner = 0;
  let unchanged = 0;
  for (const [i, r] of results.entries()) {
    const doc = (await client.call({ addr: c.peer }, "node.get", { key: r.key })) as {
      value: unknown;
      key: string;
    };
    if (JSON.stringify(doc.value) === JSON.stringify({ reading: i, unit: "C", nested: { a: [i, "x"] } }))
      unchanged++;
    if (r.owner !== sorted[successorOf(r.key)].id) wrongOwner++;
  }
  t.is(unchanged, 1000);
  t.is(wrongOwner, 0);
  // The third copy is sent with the second but acknowledged later, so placement is checked once it lands.
  await eventually(
    async () => (await missingCopies(client, cluster.nodes, results)) === 0,
    "three copies of every record",
    30_000,
    500,
  );
  t.pass();
});

test("keys move to nodes that join later, and every record again has three copies in the right places", async (t) => {
  const cluster = new Cluster();
  t.teardown(() => cluster.stop());
  const { first, token } = await cluster.ring(3, { wot: false });
  const client = await cluster.client(token);
  const records = (await pool(300, 16, (i) =>
    client.call({ addr: first.peer }, "node.put", {
      value: { i },
      source: "late",
      timestamp: 1_700_000_000_000 + i,
    }),
  )) as { key: string }[];
  for (let i = 0; i < 3; i++) await cluster.start({ join: first.peer, token, wot: false });
  await cluster.waitForRing(token);
  await eventually(
    async () => (await missingCopies(client, cluster.nodes, records)) === 0,
    "handoff to the new nodes",
    60_000,
    500,
  );
  t.pass();
});

test("kill -9 of a node while puts continue loses no acknowledged record; the node restarts and rejoins", async (t) => {
  const cluster = new Cluster();
  t.teardown(() => cluster.stop());
  const { first: a, token } = await cluster.ring(5, { wot: false });
  const client = await cluster.client(token);
  const victim = cluster.nodes[3];
  const reader = cluster.nodes[1];

  const acked: { key: string; i: number }[] = [];
  let failed = 0;
  let killed = false;
  for (let i = 0; acked.length < 600; i++) {
    if (acked.length === 200 && !killed) {
      killed = true;
      await cluster.kill(victim);
    }
    try {
      const r = (await client.call({ addr: a.peer }, "node.put", {
        value: { i },
        source: "s",
        timestamp: 1_700_000_000_000 + i,
      })) as { key: string };
      acked.push({ key: r.key, i });
    } catch {
      failed++;
    }
  }
  t.log(`acknowledged ${acked.length}, refused ${failed} during the kill`);

  const survivors = cluster.nodes.filter((n) => n !== victim);
  await cluster.waitForRing(token, survivors);
  // The survivors restore three copies of everything, in the places the smaller ring assigns.
  await eventually(
    async () => (await missingCopies(client, survivors, acked)) === 0,
    "k copies restored",
    60_000,
    500,
  );
  let readable = 0;
  for (const { key, i } of acked) {
    const doc = (await client.call({ addr: reader.peer }, "node.get", { key })) as { value: { i: number } };
    if (doc.value.i === i) readable++;
  }
  t.is(readable, acked.length);

  const restarted = await cluster.start({ dataDir: victim.dataDir, wot: false });
  t.is(restarted.id, victim.id);
  await cluster.waitForRing(token, [...survivors, restarted]);
});
