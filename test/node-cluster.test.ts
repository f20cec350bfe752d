// Routing, replication, repair and handoff of real FlowchainNodes in one process (in-memory peer
// transport, real LevelDB): the deterministic twins of the process tests, in seconds.
import test from "ava";
import type { PutResult } from "../src/node/api.js";
import type { FlowchainNode } from "../src/node/flowchain-node.js";
import { MemoryCluster } from "./helpers/memory-cluster.js";
import { eventually } from "./helpers/eventually.js";
import { chunkOwnedBy } from "./helpers/owned-chunk.js";

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

const ALL = { from: 0, to: 2_000_000_000_000, source: "urn:test:cluster" };

test.serial("a query across the ring returns every record in time order, a page at a time", async (t) => {
  const cluster = await MemoryCluster.start(4);
  t.teardown(() => cluster.stop());
  await cluster.converged();
  const acked = await putMany(cluster, 120, 8);
  const whole = await cluster.nodes[2].query({ ...ALL, limit: 1000 });
  t.like(whole, { complete: true, missing: [], next: null });
  t.is(whole.records.length, 120);
  t.deepEqual(
    whole.records.map((d) => d.timestamp),
    acked.map((_, i) => 1_700_000_000_000 + i),
  );
  // Pages of 50 with the cursor: the same records, in the same order, nothing twice.
  const paged: string[] = [];
  let cursor: string | undefined;
  for (let n = 0; n < 10; n++) {
    const page = await cluster.nodes[0].query({ ...ALL, limit: 50, ...(cursor ? { cursor } : {}) });
    paged.push(...page.records.map((d) => d.key));
    if (!page.next) break;
    cursor = page.next;
  }
  t.deepEqual(
    paged,
    whole.records.map((d) => d.key),
  );
  await t.throwsAsync(cluster.nodes[0].query({ ...ALL, cursor: "not-a-cursor" }), { message: /cursor/ });
});

test.serial("answers over the frame limit are paged, not dropped", async (t) => {
  const cluster = await MemoryCluster.start(3);
  t.teardown(() => cluster.stop());
  await cluster.converged();
  // 60 records of ~50 KB: one member's share is well over the 1 MiB peer frame.
  const big = "x".repeat(50_000);
  for (let i = 0; i < 60; i++) {
    await cluster.nodes[i % 3].put({
      value: { i, big },
      source: "urn:test:cluster",
      timestamp: 1_700_000_000_000 + i,
    });
  }
  const r = await cluster.nodes[1].query({ ...ALL, limit: 100 });
  t.like(r, { complete: true, next: null });
  t.is(r.records.length, 60);
});

test.serial(
  "a dead member's records come from its replicas; with no holder left the answer says what is missing",
  async (t) => {
    t.timeout(60_000);
    const cluster = await MemoryCluster.start(5);
    t.teardown(() => cluster.stop());
    await cluster.converged();
    const acked = await putMany(cluster, 200, 16);
    // Crashed, not yet noticed by the ring: the query asks its successors for its range.
    await cluster.crash(1);
    const r = await cluster.nodes[0].query({ ...ALL, limit: 1000 });
    t.true(r.complete);
    t.is(r.records.length, acked.length);
    // Three neighbours in a row gone: some ranges have no live holder, and the answer says so.
    await cluster.converged();
    const ring = [...cluster.nodes].sort((a, b) => (a.id < b.id ? -1 : 1));
    const reader = ring[0];
    const gone = ring.slice(1, 4);
    const goneIds = gone.map((n) => n.id);
    for (const n of gone) cluster.hub.drop(reader.addr, n.addr);
    const partial = await reader.query({ ...ALL, limit: 1000 });
    t.false(partial.complete);
    t.true(partial.missing.length > 0);
    t.true(partial.missing.every((m) => goneIds.includes(m.to)));
    t.true(partial.records.length < acked.length);
  },
);

test.serial(
  "the write promise: a node that has had peers and reaches none refuses with not_enough_replicas",
  async (t) => {
    t.timeout(60_000);
    const cluster = await MemoryCluster.start(3);
    t.teardown(() => cluster.stop());
    await cluster.converged();
    await cluster.stopNode(1);
    await cluster.stopNode(2);
    await cluster.converged();
    const lone = cluster.node(0);
    const err = await t.throwsAsync(lone.put({ value: 1, source: "urn:test:cluster" }));
    t.like(err, { name: "UnavailableError", code: "not_enough_replicas" }, err?.message);
    t.is((await lone.stats()).records, 0, "nothing was written");

    // A network that has only ever had one node keeps working with its one copy.
    const solo = await MemoryCluster.start(1);
    t.teardown(() => solo.stop());
    t.truthy((await solo.node(0).put({ value: 1, source: "urn:test:cluster" })).txID);
  },
);

test.serial("a put retried after a lost answer is recorded once, in one branch, with w copies", async (t) => {
  t.timeout(60_000);
  const cluster = await MemoryCluster.start(4);
  t.teardown(() => cluster.stop());
  await cluster.converged();
  const [writer, owner] = cluster.nodes;
  const chunk = chunkOwnedBy(
    cluster.nodes.map((n) => n.id),
    owner.id,
    (ts) => ({ source: "urn:test:cluster", value: { ts } }),
  );
  // Each way takes 0.7 s: the owner records the chunk, but its answer comes after the 1 s timeout.
  cluster.hub.delay(writer.addr, owner.addr, 700);
  // The slow link can also make the writer refuse for a moment (its ring view shaken): a refusal
  // is not an acknowledgement, and the device's own retry must still not record the chunk twice.
  const r = await eventually(
    () =>
      writer
        .put({ source: chunk.source, timestamp: chunk.timestamp, value: chunk.value })
        .catch((err: unknown) => {
          t.like(err, { name: "UnavailableError" });
          return undefined;
        }),
    "the put acknowledged",
    30_000,
    100,
  );
  t.is(r.key, chunk.key);
  t.is(r.owner, owner.id);
  let branches = 0;
  for (const n of cluster.nodes) if (await n.ledger.getByKey(chunk.key)) branches++;
  t.is(branches, 1, "recorded in exactly one branch");
  t.true((await copies(cluster, chunk.key)) >= 2);
});

test.serial(
  "restart is idempotent: --join is a hint, saved peers are tried when the boot node is down",
  async (t) => {
    t.timeout(60_000);
    const cluster = await MemoryCluster.start(4);
    t.teardown(() => cluster.stop());
    await cluster.converged();
    const boot = cluster.addrOf(0);
    await cluster.stopNode(0);
    await cluster.stopNode(3);
    await cluster.converged();
    // The supervisor's command line names the boot node, which is down; the saved peers are not.
    const back = await cluster.restart(3, { join: boot, token: cluster.joinToken });
    await cluster.converged();
    t.is(cluster.nodes.length, 3);
    t.true(back.ring().successors.some((p) => p.id !== back.id));
  },
);

/** Each node's successor list, for a failure message. */
const showRing = (side: FlowchainNode[]) =>
  side
    .map(
      (n) =>
        `${n.id.slice(0, 6)}${n.chord.isInRing() ? "" : "(cut off)"}->${n
          .ring()
          .successors.map((p) => p.id.slice(0, 6))
          .join(",")}`,
    )
    .join(" ");

/** True when the nodes of `side` form a ring of their own: each one's successor is the next of them by id. */
function ringOf(side: FlowchainNode[]): boolean {
  const sorted = [...side].sort((x, y) => (x.id < y.id ? -1 : 1));
  return sorted.every(
    (n, i) => n.chord.isInRing() && n.ring().successors[0]?.id === sorted[(i + 1) % sorted.length].id,
  );
}

test.serial(
  "a partition heals into one ring, and every put acknowledged on either side is readable everywhere",
  async (t) => {
    t.timeout(90_000);
    const cluster = await MemoryCluster.start(5);
    t.teardown(() => cluster.stop());
    await cluster.converged();
    const a = cluster.nodes.slice(0, 3);
    const b = cluster.nodes.slice(3);
    cluster.hub.partition([a.map((n) => n.addr), b.map((n) => n.addr)]);

    await eventually(
      async () => ringOf(a) && ringOf(b),
      "each side repaired into a ring of its own",
      60_000,
      50,
    ).catch((err: unknown) => {
      t.log(`side a: ${showRing(a)}; side b: ${showRing(b)}`);
      throw err;
    });

    // Both sides keep taking puts; one a node cannot make w copies of is refused, not acknowledged.
    const acked: PutResult[] = [];
    const perSide = [0, 0];
    for (let i = 0; i < 40; i++) {
      const side = i % 2 ? b : a;
      try {
        acked.push(
          await side[i % side.length].put({
            value: { i },
            source: "urn:test:cluster",
            timestamp: 1_700_000_000_000 + i,
          }),
        );
        perSide[i % 2]++;
      } catch (err) {
        t.like(err, { name: "UnavailableError" });
      }
    }
    t.true(perSide[0] > 0 && perSide[1] > 0, `acknowledged per side: ${perSide.join(", ")}`);
    const healed = Date.now();
    cluster.hub.heal();
    await cluster.converged(60_000);
    t.log(`one ring ${Date.now() - healed} ms after the heal`);
    for (const n of cluster.nodes) {
      const read = await inParallel(acked, 8, (r) => n.get(r.key));
      t.deepEqual(
        read.map((d) => d.txID),
        acked.map((r) => r.txID),
      );
    }
    const q = await cluster.nodes[0].query({ ...ALL, limit: 1000 });
    t.like(q, { complete: true });
    const got = new Set(q.records.map((d) => d.key));
    for (const r of acked.filter((x) => !got.has(x.key))) {
      const where: string[] = [];
      for (const n of cluster.nodes) {
        if (await n.ledger.getByKey(r.key)) where.push(`own@${n.id.slice(0, 6)}`);
        if (await n.ledger.getReplica(r.key)) where.push(`replica@${n.id.slice(0, 6)}`);
      }
      t.log(`missing ${r.key.slice(0, 6)} owner ${r.owner.slice(0, 6)}: ${where.join(" ")}`);
    }
    t.is(q.records.length, acked.length);
  },
);

test.serial("all nodes killed and restarted at once come back as one ring with every record", async (t) => {
  t.timeout(90_000);
  const cluster = await MemoryCluster.start(5);
  t.teardown(() => cluster.stop());
  await cluster.converged();
  const acked = await putMany(cluster, 100, 8);
  await Promise.all(Array.from({ length: 5 }, (_, i) => cluster.crash(i)));
  await Promise.all(Array.from({ length: 5 }, (_, i) => cluster.restart(i)));
  await cluster.converged(60_000);
  const read = await inParallel(acked, 8, (r) => cluster.nodes[2].get(r.key));
  t.deepEqual(
    read.map((d) => d.txID),
    acked.map((r) => r.txID),
  );
});

test.serial(
  "a chunk recorded on both sides of a partition: both records stay, a read returns one, approval pays once, the inventory lists it",
  async (t) => {
    t.timeout(90_000);
    const cluster = await MemoryCluster.start(5);
    t.teardown(() => cluster.stop());
    await cluster.converged();
    const admin = cluster.node(0);
    const others = cluster.nodes.filter((n) => n !== admin);
    const a = [admin, others[0], others[1]];
    const b = [others[2], others[3]];
    cluster.hub.partition([a.map((n) => n.addr), b.map((n) => n.addr)]);
    await eventually(async () => ringOf(a) && ringOf(b), "each side a ring of its own", 60_000, 50).catch(
      (err: unknown) => {
        t.log(`side a: ${showRing(a)}; side b: ${showRing(b)}`);
        throw err;
      },
    );
    // The same reading reaches both sides (a device that retried through the other half).
    const reading = { value: { celsius: 21 }, source: "urn:test:dup", timestamp: 1_700_000_000_000 };
    // A side refuses while it cannot make w copies (its ring still settling): retried until a deadline.
    const put = (side: FlowchainNode[]) =>
      eventually(
        () =>
          side[0].put(reading).catch((err: unknown) => {
            t.like(err, { name: "UnavailableError" });
            return undefined;
          }),
        "the reading acknowledged on one side",
        30_000,
        100,
      );
    const [ra, rb] = [await put(a), await put(b)];
    t.is(ra.key, rb.key);
    t.not(ra.txID, rb.txID, "two branches, two transactions");
    cluster.hub.heal();
    await cluster.converged(60_000);

    const read = await cluster.nodes[3].get(ra.key);
    t.true([ra.txID, rb.txID].includes(read.txID));
    const [low, high] = [ra.txID, rb.txID].sort();
    const refused = await t.throwsAsync(admin.approve({ txID: high }));
    t.like(refused, { code: "duplicate_record" });
    t.like(await admin.approve({ txID: low }), { verified: true, granted: true });

    // Repair brings both records next to each other; the inventory names the chunk and both.
    const inv = await eventually(
      async () => {
        const r = await admin.inventory();
        return r.duplicates.some((d) => d.key === ra.key) ? r : undefined;
      },
      "the duplicate in the inventory",
      60_000,
      500,
    );
    const dup = inv.duplicates.find((d) => d.key === ra.key);
    t.deepEqual(
      dup?.records.map((r) => r.txID),
      [low, high],
    );
  },
);
