import test from "ava";
import { once } from "node:events";
import { Identity } from "../src/ledger/identity.js";
import { Ledger, RecordDoc } from "../src/ledger/ledger.js";
import { NET, T0, blockAt, collect, openLedger, tempDir } from "./ledger-helpers.js";
import { merkleRoot } from "../src/ledger/merkle.js";
import { buildRecord, normaliseChunk, verifyRecord } from "../src/ledger/record.js";
import { InputError } from "../src/util/errors.js";

test("a put is stored once: same chunk twice, sequential or concurrent, gives the same record", async (t) => {
  const ledger = await openLedger(t);
  const chunk = { source: "s", timestamp: T0, value: { v: 1 } };
  const [a, b] = await Promise.all([ledger.put(chunk), ledger.put({ ...chunk })]);
  const c = await ledger.put({ value: { v: 1 }, timestamp: new Date(T0).toISOString(), source: "s" });
  t.is(a.txID, b.txID);
  t.deepEqual(c, a);
  t.is((await ledger.info()).records, 1);
  t.is((await collect(ledger.query({ from: 0, to: T0 + 1 }))).length, 1);
  t.deepEqual(await ledger.getByKey(a.key), a);
  t.deepEqual(await ledger.getByTxID(a.txID), a);
  t.is(verifyRecord(a), null);
  t.is(await ledger.getByKey("0".repeat(64)), undefined);
  t.is(await ledger.getByTxID("nope"), undefined);
});

test("bad input is rejected with InputError and changes nothing", async (t) => {
  const ledger = await openLedger(t);
  await ledger.put({ source: "s", timestamp: T0, value: 0 });
  const before = await ledger.info();
  const bad: unknown[] = [
    { source: "s", timestamp: T0, value: "x".repeat(70_000) },
    { source: "s", timestamp: T0, value: { f: () => 1 } },
    { source: "s", timestamp: T0, value: 1n },
    { source: "s", timestamp: "not a date", value: 1 },
    { source: "s", timestamp: NaN, value: 1 },
    { source: "s", timestamp: -5, value: 1 },
    { source: "s", timestamp: Date.now() + 5 * 86_400_000, value: 1 },
    { source: 42, timestamp: T0, value: 1 },
    "not a chunk",
  ];
  for (const c of bad) await t.throwsAsync(ledger.put(c as never), { instanceOf: InputError });
  // One bad chunk in a batch: nothing of the batch is stored.
  await t.throwsAsync(
    ledger.putMany([
      { source: "s", timestamp: T0 + 1, value: 1 },
      { source: "s", timestamp: "bad", value: 1 },
    ]),
    { instanceOf: InputError },
  );
  await t.throwsAsync(ledger.putMany("x" as never), { instanceOf: InputError });
  await t.throwsAsync(collect(ledger.query({ from: "bad", to: T0 })), { instanceOf: InputError });
  await t.throwsAsync(collect(ledger.query({ from: 0, to: T0, limit: -1 })), { instanceOf: InputError });
  const after = await ledger.info();
  t.is(after.records, before.records);
  t.is((await collect(ledger.query({ from: 0, to: Date.now() }))).length, 1);
});

test("time-range query: ordered by time, inclusive bounds, source filter, limit, streamed", async (t) => {
  const ledger = await openLedger(t);
  const chunks = Array.from({ length: 300 }, (_, i) => ({
    source: `sensor-${i % 3}`,
    timestamp: T0 + ((i * 7919) % 300) * 10, // shuffled times
    value: { i },
  }));
  await ledger.putMany(chunks);
  const all = await collect(ledger.query({ from: T0, to: T0 + 2990 }));
  t.is(all.length, 300);
  for (let i = 1; i < all.length; i++) t.true(all[i - 1].timestamp <= all[i].timestamp);
  const window = await collect(ledger.query({ from: T0 + 100, to: T0 + 200 }));
  t.deepEqual(
    window.map((r) => r.timestamp),
    Array.from({ length: 11 }, (_, i) => T0 + 100 + i * 10),
  );
  const s1 = await collect(
    ledger.query({ from: new Date(T0).toISOString(), to: T0 + 2990, source: "sensor-1" }),
  );
  t.is(s1.length, 100);
  t.true(s1.every((r) => r.source === "sensor-1"));
  for (let i = 1; i < s1.length; i++) t.true(s1[i - 1].timestamp <= s1[i].timestamp);
  const limited = await collect(ledger.query({ from: T0, to: T0 + 2990, source: "sensor-2", limit: 5 }));
  t.deepEqual(
    limited.map((r) => r.txID),
    all
      .filter((r) => r.source === "sensor-2")
      .slice(0, 5)
      .map((r) => r.txID),
  );
  t.is((await collect(ledger.query({ from: T0, to: T0 + 2990, limit: 0 }))).length, 0);
  t.is((await collect(ledger.query({ from: 0, to: Number.MAX_SAFE_INTEGER }))).length, 300);
  t.is((await collect(ledger.query({ from: T0 + 10, to: T0 }))).length, 0);
  t.is((await collect(ledger.query({ from: T0, to: T0 + 2990, source: "nobody" }))).length, 0);
  // Streaming: stopping early closes the iterator (close() below would hang otherwise).
  let seen = 0;
  for await (const r of ledger.query({ from: T0, to: T0 + 2990 })) {
    t.truthy(r.txID);
    if (++seen === 3) break;
  }
  t.is(seen, 3);
});

test("with no valid block records are queued, then recorded once a block is mined", async (t) => {
  const ledger = await openLedger(t, { mine: false });
  t.is(ledger.validBlock(), null); // a fresh node has only genesis, which takes no records
  const queued = once(ledger, "queued");
  let settled = false;
  const p = ledger.put({ source: "s", timestamp: T0, value: "early" }).finally(() => (settled = true));
  await queued;
  t.false(settled);
  t.is(ledger.queued(), 1);
  ledger.startMining();
  const r1 = await p;
  t.is(r1.height, 1);
  t.is(ledger.queued(), 0);

  // An invalid condition retires the block in use; its records stay stored and verifiable.
  ledger.stopMining();
  const inUse = ledger.validBlock()!; // block 1, or block 2 if the miner already sealed block 1
  const invalidated = once(ledger, "invalid");
  await ledger.invalidate("low battery");
  t.deepEqual((await invalidated)[0], { hash: inUse.hash, reason: "low battery" });
  t.is(ledger.validBlock(), null);
  t.is(await ledger.isInvalid(inUse.hash), "low battery");
  const queued2 = once(ledger, "queued");
  const p2 = ledger.put({ source: "s", timestamp: T0 + 1, value: "during outage" });
  await queued2;
  ledger.startMining();
  const r2 = await p2;
  t.is(r2.height, inUse.height + 1);
  t.deepEqual(await ledger.getByTxID(r1.txID), r1);
  t.is(verifyRecord((await ledger.getByTxID(r1.txID))!), null);
  // The block after the invalid one seals the invalid block's records.
  const sealedByIt = inUse.hash === r1.block ? [r1.txID] : [];
  t.is((await blockAt(ledger, inUse.height + 1)).sealedRoot, merkleRoot(sealedByIt));
});

test("with the default miner, a node whose reliability dropped records again after an invalidation", async (t) => {
  // The paper's case: low battery lowers reliability (a harder tier) and invalidates the block in
  // use. Puts routed to the node wait for its next block, so that block must not take minutes.
  let reliability = 1;
  const ledger = await openLedger(t, {
    hashesPerSecond: undefined,
    blockIntervalMs: undefined,
    reliability: () => reliability,
  });
  await ledger.put({ source: "s", timestamp: T0, value: "before" });
  reliability = 0.35;
  await ledger.invalidate("low_battery");
  t.is((await ledger.info()).tier, 2);
  const r = await ledger.put({ source: "s", timestamp: T0 + 1, value: "after" });
  t.true(r.block !== null && ledger.validBlock()?.hash === r.block);
  t.true((await blockAt(ledger, r.height)).target.startsWith("00"));
});

test("the next block seals the records of the block they were stored in (Merkle root)", async (t) => {
  const ledger = await openLedger(t);
  const recs = await ledger.putMany(
    Array.from({ length: 500 }, (_, i) => ({ source: "m", timestamp: T0 + i, value: i })),
  );
  const first = recs[0];
  const inFirst = recs.filter((r) => r.block === first.block).sort((a, b) => a.index - b.index);
  t.deepEqual(
    inFirst.map((r) => r.index),
    inFirst.map((_, i) => i),
  );
  const sealing = await blockAt(ledger, first.height + 1);
  t.is(sealing.prev, first.block);
  t.is(sealing.sealedRoot, merkleRoot(inFirst.map((r) => r.txID)));
  const info = await ledger.info();
  t.is(info.records, 500);
  t.is(info.recordsSealed + info.recordsUnsealed, 500);
  t.is(info.tier, 2);
  t.true(info.target.startsWith("00"));
});

test("a clean close keeps the valid block; the next open continues the same branch", async (t) => {
  const dir = await tempDir(t);
  const identity = await Identity.loadOrCreate(dir);
  const l1 = await Ledger.open({
    dir,
    identity,
    network: NET,
    hashesPerSecond: 200_000,
    reliability: () => 0.4,
    // fsync per group commit: the same path, just slower.
    sync: true,
  });
  const r = await l1.put({ source: "s", timestamp: T0, value: 1 });
  const valid = l1.validBlock();
  await l1.close();
  const l2 = await openLedger(t, { identity, mine: false }, dir);
  t.is(l2.validBlock()?.hash, valid?.hash);
  t.is(await l2.isInvalid(r.block), undefined);
  t.deepEqual(await l2.getByKey(r.key), r);
  t.is((await l2.info()).records, 1);
  t.deepEqual(await collect(l2.ownKeys()), [r.key]);
});

test("a data dir refuses another network or another identity", async (t) => {
  const dir = await tempDir(t);
  const identity = await Identity.loadOrCreate(dir);
  const l1 = await Ledger.open({ dir, identity, network: NET, mine: false });
  await l1.close();
  await t.throwsAsync(Ledger.open({ dir, identity, network: { ...NET, name: "other" } }), {
    instanceOf: InputError,
  });
  await t.throwsAsync(Ledger.open({ dir, identity: Identity.generate(), network: NET }), {
    instanceOf: InputError,
  });
});

test("replicas from other nodes are verified, stored apart, idempotent", async (t) => {
  const ledger = await openLedger(t, { mine: false });
  const other = Identity.generate();
  const c = normaliseChunk({ source: "r", timestamp: T0, value: { x: 1 } });
  const key = (await import("../src/util/hash.js")).doubleSha256Hex(c.canonical);
  const doc: RecordDoc = buildRecord(c, key, { hash: "ab".repeat(32), height: 4 }, 0, other);
  await ledger.storeReplica(doc);
  await ledger.storeReplica(doc);
  t.deepEqual(await ledger.getReplica(key), doc);
  t.is(await ledger.getByKey(key), undefined);
  t.deepEqual(await collect(ledger.replicaKeys()), [key]);
  t.deepEqual(await collect(ledger.ownKeys()), []);
  const tampered = { ...doc, key: "cd".repeat(32) };
  await t.throwsAsync(ledger.storeReplica(tampered), { instanceOf: InputError });
  await t.throwsAsync(ledger.storeReplica({ ...doc, value: { x: 2 } }), { instanceOf: InputError });
  await t.throwsAsync(ledger.storeReplica("junk" as never), { instanceOf: InputError });
  t.is(await ledger.getReplica("cd".repeat(32)), undefined);
});
