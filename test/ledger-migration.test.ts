// A store written before the keyspaces became sublevels (format 1: one flat keyspace with
// one-character prefixes) opens with today's code: it is migrated once, everything stays readable
// and verifies, and a migration cut short carries on at the next open without losing a key.
import test, { ExecutionContext } from "ava";
import { copyFile } from "node:fs/promises";
import { join } from "node:path";
import { Level } from "level";
import { Identity } from "../src/ledger/identity.js";
import { Ledger, type RecordDoc } from "../src/ledger/ledger.js";
import { Store } from "../src/ledger/store.js";
import { migrateFormat1 } from "../src/ledger/store-migration.js";
import { verifyDataDir } from "../src/ledger/verify.js";
import { NET, T0, blockAt, collect, openLedger, tempDir } from "./ledger-helpers.js";

/** Format-1 prefix of each sublevel, written out here rather than taken from the code under test. */
const FORMAT1_PREFIX: Record<string, string> = {
  records: "r",
  "by-source": "s",
  "by-key": "k",
  "by-txid": "x",
  "block-records": "b",
  blocks: "B",
  heights: "H",
  invalid: "I",
  replicas: "R",
  "replica-txids": "X",
  meta: "m",
};

interface Snapshot {
  dir: string;
  own: RecordDoc[];
  replica: RecordDoc;
  retired: string;
  height: number;
}

/** A stopped node with records over several blocks, a retired block and a replica. */
async function populated(t: ExecutionContext): Promise<Snapshot> {
  const dir = await tempDir(t);
  const ledger = await openLedger(t, {}, dir);
  const other = await openLedger(t);
  const own: RecordDoc[] = [];
  for (let round = 0; round < 3; round++) {
    const recs = await ledger.putMany(
      Array.from({ length: 30 }, (_, i) => ({
        source: `s${i % 3}`,
        timestamp: T0 + round * 100 + i,
        value: i,
      })),
    );
    own.push(...recs);
    await blockAt(ledger, recs[0].height + 1);
  }
  const retired = ledger.validBlock()!.hash;
  await ledger.invalidate("low battery");
  const replica = await other.put({ source: "elsewhere", timestamp: T0, value: "r" });
  await ledger.storeReplica(replica);
  const height = ledger.height();
  await ledger.close();
  return { dir, own, replica, retired, height };
}

/** Rewrites a store in format 1, key by raw key, into a new data dir. */
async function asFormat1(t: ExecutionContext, from: string): Promise<string> {
  const dir = await tempDir(t);
  await copyFile(join(from, "node.key"), join(dir, "node.key"));
  const src = new Level<string, string>(join(from, "ledger"), { valueEncoding: "utf8" });
  const dst = new Level<string, string>(join(dir, "ledger"), { valueEncoding: "utf8" });
  for await (const [key, value] of src.iterator()) {
    const m = /^!([^!]+)!(.*)$/s.exec(key);
    if (m === null) throw new Error(`unexpected key ${key}`);
    if (m[1] === "meta" && m[2] === "format") continue;
    await dst.put(`${FORMAT1_PREFIX[m[1]]}!${m[2]}`, value);
  }
  await Promise.all([src.close(), dst.close()]);
  return dir;
}

async function rawKeys(dir: string): Promise<string[]> {
  const db = new Level<string, string>(join(dir, "ledger"), { valueEncoding: "utf8" });
  const keys = await db.keys().all();
  await db.close();
  return keys;
}

async function checkReadable(t: ExecutionContext, dir: string, s: Snapshot): Promise<void> {
  const identity = await Identity.loadOrCreate(dir);
  const ledger = await Ledger.open({ dir, identity, network: NET, mine: false, workers: 0 });
  try {
    for (const d of s.own) {
      t.deepEqual(await ledger.getByKey(d.key), d);
      t.deepEqual(await ledger.getByTxID(d.txID), d);
    }
    t.deepEqual(await collect(ledger.query({ from: T0, to: T0 + 1000 })), s.own);
    t.is((await collect(ledger.query({ from: T0, to: T0 + 1000, source: "s1" }))).length, 30);
    t.is((await collect(ledger.ownKeys())).length, s.own.length);
    t.deepEqual(await ledger.getReplica(s.replica.key), s.replica);
    t.deepEqual(await ledger.getReplicaByTxID(s.replica.txID), s.replica);
    t.deepEqual(await collect(ledger.replicaKeys()), [s.replica.key]);
    t.is(await ledger.isInvalid(s.retired), "low battery");
    const blocks = await collect(ledger.blocks());
    t.is(blocks.length, s.height + 1);
    for (const b of blocks) t.deepEqual(await ledger.block(b.hash), b);
    t.is((await ledger.info()).records, s.own.length);
    t.is(ledger.height(), s.height);
  } finally {
    await ledger.close();
  }
  const report = await verifyDataDir(dir, { workers: 0 });
  t.deepEqual(report, { ok: true, blocks: s.height + 1, records: s.own.length });
  t.true(
    (await rawKeys(dir)).every((k) => k.startsWith("!")),
    "no format-1 key is left",
  );
}

test("a format-1 store is migrated when opened; every record, block and index is readable", async (t) => {
  const s = await populated(t);
  const old = await asFormat1(t, s.dir);
  t.true((await rawKeys(old)).every((k) => /^[a-zA-Z]!/.test(k)));
  await checkReadable(t, old, s);
});

test("a migration cut short after some batches finishes at the next open and loses nothing", async (t) => {
  const s = await populated(t);
  const old = await asFormat1(t, s.dir);
  const db = new Level<string, string>(join(old, "ledger"), { valueEncoding: "utf8" });
  await db.open();
  const crash = new Error("simulated crash");
  await t.throwsAsync(
    migrateFormat1(new Store(db), {
      batchSize: 50,
      afterBatch: (moved) => {
        if (moved >= 200) throw crash;
      },
    }),
    { is: crash },
  );
  await db.close();
  const keys = await rawKeys(old);
  t.true(keys.some((k) => k.startsWith("!")) && keys.some((k) => !k.startsWith("!")), "half migrated");
  await checkReadable(t, old, s);
});
