// A data directory written before Merkle version 2 (blocks without `merkle`, sealed by the old
// hex-concatenation rule) keeps verifying after the upgrade, and the node mines version-2 blocks
// on top of it: the first of them seals the old head's records by the new rule.
import test from "ava";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { type Block } from "../src/ledger/block.js";
import { Identity } from "../src/ledger/identity.js";
import { merkleRoot } from "../src/ledger/merkle.js";
import type { RecordDoc } from "../src/ledger/record.js";
import { META, heightKey, openStore } from "../src/ledger/store.js";
import { exportDataDir } from "../src/ledger/export.js";
import { verifyDataDir, verifyExportFile } from "../src/ledger/verify.js";
import { nextBlock, recordsIn } from "./helpers/branch-builder.js";
import { T0, blockAt, collect, openLedger, tempDir } from "./ledger-helpers.js";

/** Appends version-1 blocks with records to a closed ledger's store, as an old node wrote them. */
async function writeV1Blocks(dir: string, identity: Identity, blocks: number): Promise<RecordDoc[]> {
  const store = await openStore(dir);
  const all: RecordDoc[] = [];
  try {
    const genesis = JSON.parse((await store.block((await store.headHash())!))!) as Block;
    let prev = genesis;
    let leaves: string[] = [];
    for (let h = 1; h <= blocks; h++) {
      const b = nextBlock(identity, prev, leaves, { merkle: 1, timestamp: T0 + h * 1000 });
      const recs = recordsIn(
        identity,
        b,
        Array.from({ length: h + 2 }, (_, i) => ({ source: "old", timestamp: T0 + h * 1000 + i, value: i })),
      );
      const batch = store.batch();
      batch.put(store.blocks, b.hash, JSON.stringify(b)).put(store.heights, heightKey(b.height), b.hash);
      for (const d of recs) batch.putOwnRecord(store, d, JSON.stringify(d));
      all.push(...recs);
      batch.put(store.meta, META.records, String(all.length));
      await batch.write({ sync: true });
      prev = b;
      leaves = recs.map((r) => r.txID);
    }
  } finally {
    await store.close();
  }
  return all;
}

test("an old branch (Merkle version 1) verifies, and the upgraded node seals on with version 2", async (t) => {
  const dir = await tempDir(t);
  const identity = Identity.generate();
  await (await openLedger(t, { identity, mine: false }, dir)).close();
  const old = await writeV1Blocks(dir, identity, 3);
  t.deepEqual(await verifyDataDir(dir, { workers: 0 }), { ok: true, blocks: 4, records: old.length });

  const ledger = await openLedger(t, { identity }, dir);
  // The old head (height 3) still takes records until the next block; that block is version 2.
  const fresh = await ledger.putMany([{ source: "new", timestamp: T0 + 9000, value: 1 }]);
  const upgraded = await blockAt(ledger, 4);
  t.is(upgraded.merkle, 2);
  const oldHead = old.filter((r) => r.height === 3).map((r) => r.txID);
  const inOldHead = [...oldHead, ...fresh.filter((r) => r.height === 3).map((r) => r.txID)];
  t.is(upgraded.sealedRoot, merkleRoot(inOldHead, 2));
  await ledger.put({ source: "new", timestamp: T0 + 9001, value: 2 });
  await blockAt(ledger, 5);
  const blocks = await collect(ledger.blocks());
  await ledger.close();
  t.deepEqual(
    blocks.slice(0, 4).map((b) => b.merkle),
    [undefined, undefined, undefined, undefined],
  );
  t.true(blocks.length >= 6 && blocks.slice(4).every((b) => b.merkle === 2));
  const report = await verifyDataDir(dir, { workers: 0 });
  t.true(report.ok, JSON.stringify(report.firstBad));

  // The same branch as an export verifies too; a version-1 block claiming version 2 does not.
  const file = join(dir, "export.ndjson");
  const lines: string[] = [];
  await exportDataDir(dir, { write: (s: string) => lines.push(s) } as unknown as NodeJS.WritableStream);
  await writeFile(file, lines.join(""));
  t.true((await verifyExportFile(file, { workers: 0 })).ok);
  const forged = lines.map((l) => {
    const d = JSON.parse(l) as Block;
    return d["@type"] === "Block" && d.height === 2 ? JSON.stringify({ ...d, merkle: 2 }) + "\n" : l;
  });
  await writeFile(file, forged.join(""));
  const bad = await verifyExportFile(file, { workers: 0 });
  t.false(bad.ok);
  t.is(bad.firstBad?.height, 2);
});
