import test, { ExecutionContext } from "ava";
import { createWriteStream } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { finished } from "node:stream/promises";
import { Level } from "level";
import { Identity } from "../src/ledger/identity.js";
import { Ledger, RecordDoc } from "../src/ledger/ledger.js";
import { exportDataDir } from "../src/ledger/export.js";
import { verifyDataDir, verifyExportFile } from "../src/ledger/verify.js";
import { NET, T0, blockAt, tempDir } from "./ledger-helpers.js";

/** A stopped node's data dir with records spread over three blocks. */
async function populatedDir(
  t: ExecutionContext,
): Promise<{ dir: string; records: RecordDoc[]; height: number }> {
  const dir = await tempDir(t);
  const identity = await Identity.loadOrCreate(dir);
  const ledger = await Ledger.open({
    dir,
    identity,
    network: NET,
    hashesPerSecond: 200_000,
    reliability: () => 0.4,
  });
  const records: RecordDoc[] = [];
  for (let round = 0; round < 3; round++) {
    const batch = Array.from({ length: 40 }, (_, i) => ({
      source: `s${i % 2}`,
      timestamp: T0 + round * 100 + i,
      value: { round, i },
    }));
    const recs = await ledger.putMany(batch);
    records.push(...recs);
    // Let the block holding this round be sealed before the next round.
    await blockAt(ledger, recs[recs.length - 1].height + 1);
  }
  const height = ledger.height();
  await ledger.close();
  return { dir, records, height };
}

async function exportTo(t: ExecutionContext, dir: string): Promise<string> {
  const file = join(await tempDir(t), "export.ndjson");
  const out = createWriteStream(file);
  await exportDataDir(dir, out);
  out.end();
  await finished(out);
  return file;
}

test("verify passes on a good data dir and on its export", async (t) => {
  const { dir, records, height } = await populatedDir(t);
  const report = await verifyDataDir(dir);
  t.deepEqual(report, { ok: true, blocks: height + 1, records: records.length });
  const file = await exportTo(t, dir);
  const lines = (await readFile(file, "utf8"))
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l));
  t.is(lines.length, height + 1 + records.length);
  t.is(lines[0]["@type"], "Block");
  t.deepEqual(lines[0].network, NET);
  t.deepEqual(await verifyExportFile(file), { ok: true, blocks: height + 1, records: records.length });
});

test("verify finds one flipped field in an export and reports its height", async (t) => {
  const { dir, records } = await populatedDir(t);
  const file = await exportTo(t, dir);
  const lines = (await readFile(file, "utf8")).trim().split("\n");
  const victim = records[50];
  const tamper = async (
    edit: (doc: Record<string, unknown>) => void,
    match: (doc: Record<string, unknown>) => boolean,
  ) => {
    const out = lines.map((l) => {
      const doc = JSON.parse(l) as Record<string, unknown>;
      if (!match(doc)) return l;
      edit(doc);
      return JSON.stringify(doc);
    });
    const f = join(await tempDir(t), "tampered.ndjson");
    await writeFile(f, out.join("\n") + "\n");
    return verifyExportFile(f);
  };
  const isVictim = (d: Record<string, unknown>) => d.txID === victim.txID;

  const r1 = await tamper((d) => ((d.value as { i: number }).i = 999), isVictim);
  t.false(r1.ok);
  t.is(r1.firstBad?.height, victim.height);
  t.regex(r1.firstBad!.what, /key does not match/);

  const r2 = await tamper((d) => (d.timestamp = (d.timestamp as number) + 1), isVictim);
  t.is(r2.firstBad?.height, victim.height);

  const r3 = await tamper(
    (d) => (d.signature = (d.signature as string).replace(/^./, (c) => (c === "0" ? "1" : "0"))),
    isVictim,
  );
  t.is(r3.firstBad?.height, victim.height);
  t.regex(r3.firstBad!.what, /signature/);

  const r4 = await tamper(
    (d) => (d.nonce = (d.nonce as number) + 1),
    (d) => d["@type"] === "Block" && d.height === 2,
  );
  t.is(r4.firstBad?.height, 2);
  t.regex(r4.firstBad!.what, /hash/);

  // Dropping a record leaves a gap in its block (or, if it was the last, breaks the next sealedRoot).
  const f5 = join(await tempDir(t), "dropped.ndjson");
  await writeFile(f5, lines.filter((l) => !l.includes(victim.txID)).join("\n") + "\n");
  const r5 = await verifyExportFile(f5);
  t.is(r5.firstBad?.height, victim.height);
  t.regex(r5.firstBad!.what, /index|sealedRoot/);

  const lastOfBlock = records.filter((r) => r.block === victim.block).sort((a, b) => b.index - a.index)[0];
  const f5b = join(await tempDir(t), "dropped-last.ndjson");
  await writeFile(f5b, lines.filter((l) => !l.includes(lastOfBlock.txID)).join("\n") + "\n");
  const r5b = await verifyExportFile(f5b);
  t.is(r5b.firstBad?.height, victim.height);
  t.regex(r5b.firstBad!.what, /sealedRoot/);

  // A forged genesis (another network) is caught at height 0.
  const r6 = await tamper(
    (d) => ((d.network as { name: string }).name = "evil"),
    (d) => d.height === 0,
  );
  t.is(r6.firstBad?.height, 0);

  const f7 = join(await tempDir(t), "junk.ndjson");
  await writeFile(f7, lines[0] + "\n{not json\n");
  t.false((await verifyExportFile(f7)).ok);
});

test("verify finds a record tampered with inside the data dir", async (t) => {
  const { dir, records } = await populatedDir(t);
  const victim = records[70];
  const db = new Level<string, string>(join(dir, "ledger"), { valueEncoding: "utf8" });
  await db.open();
  const recordSpace = db.sublevel<string, string>("records", { valueEncoding: "utf8" });
  const key = `${String(victim.timestamp).padStart(15, "0")}!${victim.txID}`;
  const doc = JSON.parse((await recordSpace.get(key))!) as RecordDoc;
  doc.value = "tampered";
  await recordSpace.put(key, JSON.stringify(doc));
  await db.close();
  const report = await verifyDataDir(dir);
  t.false(report.ok);
  t.is(report.firstBad?.height, victim.height);
});

test("verify refuses a data dir that a running node holds, and a missing one", async (t) => {
  const dir = await tempDir(t);
  const identity = await Identity.loadOrCreate(dir);
  const ledger = await Ledger.open({ dir, identity, network: NET, mine: false });
  t.teardown(() => ledger.close());
  await t.throwsAsync(verifyDataDir(dir), { message: /in use by a running node/ });
  await t.throwsAsync(verifyDataDir(join(dir, "nothing-here")), { message: /no ledger/ });
});
