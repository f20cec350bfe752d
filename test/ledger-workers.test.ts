// The crypto pool (piscina): a thread that dies is replaced and costs no record; ledgers can sign
// inline (workers: 0) or share one pool, so an in-process cluster does not start a thread per node.
import test from "ava";
import { once } from "node:events";
import { createCryptoPool, type Ledger } from "../src/ledger/ledger.js";
import { verifyRecord } from "../src/ledger/record.js";
import { verifyDataDir } from "../src/ledger/verify.js";
import { T0, collect, openLedger, tempDir } from "./ledger-helpers.js";

// Groups of at least 32 records go to the pool; smaller ones are signed inline anyway.
const chunks = (from: number, n: number) =>
  Array.from({ length: n }, (_, i) => ({ source: "w", timestamp: T0 + from + i, value: from + i }));

async function putAndCheck(t: import("ava").ExecutionContext, ledger: Ledger, from: number, n: number) {
  const docs = await ledger.putMany(chunks(from, n));
  t.is(docs.length, n);
  for (const d of docs) t.is(verifyRecord(d), null);
}

test("a crypto thread that dies is replaced: puts in flight and the next put still succeed", async (t) => {
  const pool = createCryptoPool(1);
  t.teardown(() => pool.destroy());
  const ledger = await openLedger(t, { workers: pool });
  await putAndCheck(t, ledger, 0, 64);
  const signedByPool = pool.completed;
  t.true(signedByPool >= 1, "the first group went through the pool");

  const [victim] = pool.threads;
  const exited = once(victim, "exit");
  const inFlight = ledger.putMany(chunks(64, 500));
  await victim.terminate();
  await exited;
  t.is((await inFlight).length, 500);

  await putAndCheck(t, ledger, 564, 64);
  t.is(pool.threads.length, 1);
  t.not(pool.threads[0], victim);
  t.true(pool.completed > signedByPool, "the replacement thread signed the next group");
  t.is((await collect(ledger.query({ from: T0, to: T0 + 1000 }))).length, 628);
});

test("workers: 0 signs on the main thread; verify can too", async (t) => {
  const dir = await tempDir(t);
  const ledger = await openLedger(t, { workers: 0 }, dir);
  await putAndCheck(t, ledger, 0, 300);
  await ledger.close();
  const report = await verifyDataDir(dir, { workers: 0 });
  t.true(report.ok);
  t.is(report.records, 300);
});

test("several ledgers share one injected pool and leave it open", async (t) => {
  const pool = createCryptoPool(1);
  t.teardown(() => pool.destroy());
  const ledgers = await Promise.all([0, 1, 2, 3].map(() => openLedger(t, { workers: pool })));
  await Promise.all(ledgers.map((l, i) => putAndCheck(t, l, i * 100, 64)));
  t.is(pool.threads.length, 1);
  t.true(pool.completed >= 4);
  await ledgers[0].close();
  // Closing one ledger does not take the pool from the others.
  await putAndCheck(t, ledgers[1], 1000, 64);
});
