// An owner killed after its record was durable but before any copy or answer left it: the caller's
// retry records the chunk at the next owner, and the restarted owner must not come back with a
// second record of that chunk in its own branch (crash-recovery.ts, withdrawal.ts).
import test from "ava";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { createWriteStream } from "node:fs";
import { once } from "node:events";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { exportDataDir } from "../src/ledger/export.js";
import { META, openStore } from "../src/ledger/store.js";
import { verifyDataDir, verifyExportFile } from "../src/ledger/verify.js";
import { dataFiles } from "../src/node/data-dir.js";
import { MemoryCluster } from "./helpers/memory-cluster.js";
import { chunkOwnedBy } from "./helpers/owned-chunk.js";

/** What kill -9 leaves on disk: the store still marked open. */
async function markUnclean(dir: string): Promise<void> {
  const store = await openStore(dataFiles(dir).ledger, false);
  await store.putMeta(META.state, "open");
  await store.close();
}

async function exportLines(dir: string): Promise<{ file: string; docs: Record<string, unknown>[] }> {
  const tmp = await mkdtemp(join(tmpdir(), "flowchain-export-"));
  const file = join(tmp, "export.ndjson");
  const out = createWriteStream(file);
  await exportDataDir(dataFiles(dir).ledger, out);
  out.end();
  await once(out, "finish");
  const docs = (await readFile(file, "utf8"))
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  return { file, docs };
}

test("a record the killed owner never copied is withdrawn on restart; the retried record stands alone", async (t) => {
  const cluster = await MemoryCluster.start(4);
  t.teardown(() => cluster.stop());
  await cluster.converged();
  const ids = cluster.nodes.map((n) => n.id);
  const owner = cluster.node(1);
  const chunk = chunkOwnedBy(ids, owner.id, (ts) => ({ source: "urn:dev:crash", value: { ts } }));

  // Durable in the owner's branch, no copy anywhere, no answer: then the process dies.
  const orphan = await owner.ledger.put({
    source: chunk.source,
    timestamp: chunk.timestamp,
    value: chunk.value,
  });
  await cluster.crash(1);
  await markUnclean(cluster.dirOf(1));

  // The caller's retry: the next owner records the chunk and acknowledges with w copies.
  const acked = await cluster
    .node(0)
    .put({ source: chunk.source, timestamp: chunk.timestamp, value: chunk.value });
  t.not(acked.txID, orphan.txID);
  t.not(acked.owner, owner.id);

  const back = await cluster.restart(1);
  await cluster.converged();
  // Settled before anything of its range is copied out or answered.
  const again = await back.put({ source: chunk.source, timestamp: chunk.timestamp, value: chunk.value });
  t.is(again.txID, acked.txID, "a put of the same chunk answers with the acknowledged record");
  t.is(await back.ledger.getByKey(chunk.key), undefined, "the withdrawn record is not the owner's any more");
  t.is((await back.ledger.getReplica(chunk.key))?.txID, acked.txID);
  t.like(await back.ledger.withdrawal(orphan.txID), { replacedBy: { txID: acked.txID, miner: acked.owner } });
  t.is((await back.get(chunk.key)).txID, acked.txID);
  const q = await back.query({ from: chunk.timestamp, to: chunk.timestamp });
  t.deepEqual(
    q.records.map((r) => r.txID),
    [acked.txID],
  );
  // Approval finds one payable record: the acknowledged one.
  await t.throwsAsync(back.approve({ txID: orphan.txID }));
  t.like(await back.approve({ txID: acked.txID }), { verified: true });

  // The branch still verifies (the record stays in its block) and the export carries the notice.
  await cluster.stopNode(1);
  t.true((await verifyDataDir(dataFiles(cluster.dirOf(1)).ledger, { workers: 0 })).ok);
  const { file, docs } = await exportLines(cluster.dirOf(1));
  t.teardown(() => rm(join(file, ".."), { recursive: true, force: true }));
  t.true(docs.some((d) => d["@type"] === "Transaction" && d.txID === orphan.txID));
  const notice = docs.find((d) => d["@type"] === "Withdrawal");
  t.like(notice, { txID: orphan.txID, miner: owner.id });
  t.true((await verifyExportFile(file, { workers: 0 })).ok);
});

test("a record some holder has a copy of stays after an unclean restart", async (t) => {
  const cluster = await MemoryCluster.start(4);
  t.teardown(() => cluster.stop());
  await cluster.converged();
  const ids = cluster.nodes.map((n) => n.id);
  const owner = cluster.node(2);
  const chunk = chunkOwnedBy(ids, owner.id, (ts) => ({
    source: "urn:dev:crash",
    value: { ts, copied: true },
  }));
  const acked = await cluster
    .node(0)
    .put({ source: chunk.source, timestamp: chunk.timestamp, value: chunk.value });
  t.is(acked.owner, owner.id);
  await cluster.crash(2);
  await markUnclean(cluster.dirOf(2));
  const back = await cluster.restart(2);
  await cluster.converged();
  t.is((await back.put({ ...chunk })).txID, acked.txID);
  t.is((await back.ledger.getByKey(chunk.key))?.txID, acked.txID);
  t.is(await back.ledger.withdrawal(acked.txID), undefined);
});

/** CrashRecovery alone: our record nobody holds, and a holder answering with a signed twin. */
async function settleWith(acceptTwin: () => Promise<unknown>): Promise<string[]> {
  const { CrashRecovery } = await import("../src/node/crash-recovery.js");
  const { silentLogger } = await import("../src/log.js");
  const { Identity } = await import("../src/ledger/identity.js");
  const { buildRecord, dataKey, normaliseChunk } = await import("../src/ledger/record.js");
  const chunk = { source: "urn:dev:crash", timestamp: 1_700_000_000_000, value: { c: 21 } };
  const block = (tag: string) => ({ hash: tag.repeat(64), height: 1 });
  // A member's own key signs whatever it likes: only the branch proof tells a real twin from this.
  const own = buildRecord(normaliseChunk(chunk), dataKey(chunk), block("a"), 0, Identity.generate());
  const twin = buildRecord(normaliseChunk(chunk), dataKey(chunk), block("b"), 0, Identity.generate());
  const withdrawn: string[] = [];
  const recovery = new CrashRecovery({
    ledger: {
      uncleanStart: true,
      head: () => ({ timestamp: Date.now() }) as never,
      recentOwnRecords: async () => [own],
      getReplica: async () => undefined,
      withdraw: async (txID: string) => {
        withdrawn.push(txID);
        return {} as never;
      },
    },
    client: {
      tryCall: (async (_p: unknown, method: string) => (method === "store.get" ? twin : null)) as never,
    },
    holders: async () => [{ id: "f".repeat(64), addr: "mem-9:1" }],
    acceptTwin,
    log: silentLogger,
  });
  await recovery.load();
  await recovery.run();
  return withdrawn;
}

test("a twin a holder claims is used only once it is proven in its miner's branch", async (t) => {
  t.deepEqual(
    await settleWith(async () => {
      throw new Error("replica rejected: block is not in the branch of its miner");
    }),
    [],
    "an unproven twin withdraws nothing",
  );
  t.is((await settleWith(async () => ({ stored: 1 }))).length, 1, "a proven one does (control)");
});
