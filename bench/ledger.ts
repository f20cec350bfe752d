// Ledger throughput, with the ceilings measured in the same run so the figures can be read as
// ratios on a shared, noisy machine:
//   node dist/bench/ledger.js [--json]
import { mkdtemp, rm } from "node:fs/promises";
import { createWriteStream } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { finished } from "node:stream/promises";
import { pathToFileURL } from "node:url";
import { Level } from "level";
import { Identity } from "../src/ledger/identity.js";
import { Ledger } from "../src/ledger/ledger.js";
import { buildRecord, normaliseChunk, signingString } from "../src/ledger/record.js";
import { doubleSha256Hex } from "../src/util/hash.js";
import { verifyDataDir, verifyExportFile } from "../src/ledger/verify.js";
import { exportDataDir } from "../src/ledger/export.js";

const N_SINGLE = 3_000;
const N_BATCH = 30_000;
const T0 = 1_700_000_000_000;

const chunk = (i: number) => ({
  source: `sensor-${i % 8}`,
  timestamp: T0 + i,
  value: { temperature: 20 + (i % 100) / 10, seq: i },
});
const rate = (n: number, ms: number) => Math.round((n / ms) * 1000);

async function timed(n: number, f: () => Promise<unknown> | unknown): Promise<number> {
  const t = performance.now();
  await f();
  return rate(n, performance.now() - t);
}

export async function benchLedger(): Promise<Record<string, number>> {
  const root = await mkdtemp(join(tmpdir(), "fc-bench-ledger-"));
  try {
    const identity = Identity.generate();
    const network = { name: "bench", adminPublicKey: Identity.generate().publicKeyHex };

    // Ceiling 1: Ed25519 signatures over record-sized signing strings, nothing else.
    const sample = buildRecord(
      normaliseChunk(chunk(0)),
      "ab".repeat(32),
      { hash: "cd".repeat(32), height: 1 },
      0,
      identity,
    );
    const toSign = signingString(sample);
    const signPerSec = await timed(N_SINGLE * 3, () => {
      for (let i = 0; i < N_SINGLE * 3; i++) identity.sign(toSign + i);
    });

    // Ceiling 2: LevelDB batches of 1000 pre-built records with the ledger's five index entries.
    const raw = new Level<string, string>(join(root, "raw"), { valueEncoding: "utf8" });
    await raw.open();
    const json = JSON.stringify(sample);
    const levelBatchPerSec = await timed(N_BATCH, async () => {
      for (let b = 0; b < N_BATCH / 1000; b++) {
        const ops = [];
        for (let i = 0; i < 1000; i++) {
          const id = doubleSha256Hex(`${b}:${i}`);
          const pk = `${String(T0 + b * 1000 + i).padStart(15, "0")}!${id}`;
          ops.push(
            { type: "put" as const, key: `r!${pk}`, value: json },
            { type: "put" as const, key: `s!sensor\x00${pk}`, value: "" },
            { type: "put" as const, key: `k!${id}`, value: pk },
            { type: "put" as const, key: `x!${id}`, value: pk.slice(0, 15) },
            { type: "put" as const, key: `b!${id}!${i}`, value: pk },
          );
        }
        await raw.batch(ops);
      }
    });
    await raw.close();

    const dir = join(root, "node");
    // Easiest tier at a modest rate: a few blocks during the run, as on a live node.
    const ledger = await Ledger.open({ dir, identity, network, hashesPerSecond: 20 });
    const storedSinglePerSec = await timed(N_SINGLE, async () => {
      for (let i = 0; i < N_SINGLE; i++) await ledger.put(chunk(i));
    });
    const storedBatchPerSec = await timed(N_BATCH, () =>
      Promise.all(Array.from({ length: N_BATCH }, (_, i) => ledger.put(chunk(N_SINGLE + i)))),
    );
    const total = N_SINGLE + N_BATCH;

    // Ceiling 3, for the query figure: JSON.parse of stored documents alone.
    const stored = JSON.stringify(sample);
    const parsePerSec = await timed(N_BATCH, () => {
      for (let i = 0; i < N_BATCH; i++) JSON.parse(stored);
    });

    let n = 0;
    const queryPerSec = await timed(total, async () => {
      for await (const _r of ledger.query({ from: T0, to: T0 + total })) n++;
    });
    if (n !== total) throw new Error(`query returned ${n} of ${total}`);
    let m = 0;
    const querySourcePerSec = await timed(total / 8, async () => {
      for await (const _r of ledger.query({ from: T0, to: T0 + total, source: "sensor-3" })) m++;
    });
    if (m !== total / 8) throw new Error(`source query returned ${m} of ${total / 8}`);
    await ledger.close();

    let report = await verifyDataDir(dir);
    const verifyPerSec = await timed(total, async () => {
      report = await verifyDataDir(dir);
    });
    if (!report.ok || report.records !== total) throw new Error(`verify failed: ${JSON.stringify(report)}`);
    const file = join(root, "export.ndjson");
    const out = createWriteStream(file);
    await exportDataDir(dir, out);
    out.end();
    await finished(out);
    const verifyExportPerSec = await timed(total, async () => {
      report = await verifyExportFile(file);
    });
    if (!report.ok) throw new Error(`export verify failed: ${JSON.stringify(report)}`);

    return {
      signPerSec,
      levelBatchPerSec,
      storedSinglePerSec,
      storedBatchPerSec,
      storedBatchToSignRatio: Math.round((storedBatchPerSec / signPerSec) * 100) / 100,
      storedBatchToLevelRatio: Math.round((storedBatchPerSec / levelBatchPerSec) * 100) / 100,
      parsePerSec,
      queryPerSec,
      queryToParseRatio: Math.round((queryPerSec / parsePerSec) * 100) / 100,
      querySourcePerSec,
      verifyPerSec,
      verifyExportPerSec,
      blocks: report.blocks,
    };
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const r = await benchLedger();
  if (process.argv.includes("--json")) {
    console.log(JSON.stringify(r));
  } else {
    console.log(`Ed25519 sign alone                 ${r.signPerSec} /s   (ceiling)`);
    console.log(
      `level batch(1000) alone            ${r.levelBatchPerSec} rec/s (ceiling, 5 index entries each)`,
    );
    console.log(`signed records stored, sequential  ${r.storedSinglePerSec} rec/s`);
    console.log(`signed records stored, concurrent  ${r.storedBatchPerSec} rec/s   target >= 10000`);
    console.log(`  ratio to sign ceiling            ${r.storedBatchToSignRatio}`);
    console.log(`  ratio to level ceiling           ${r.storedBatchToLevelRatio}`);
    console.log(`JSON.parse of a record alone       ${r.parsePerSec} /s   (ceiling for queries)`);
    console.log(`time-range query                   ${r.queryPerSec} rec/s   target >= 150000`);
    console.log(`  ratio to parse ceiling           ${r.queryToParseRatio}`);
    console.log(`time-range query, one source       ${r.querySourcePerSec} rec/s`);
    console.log(`verify data dir (signatures)       ${r.verifyPerSec} rec/s   target >= 9000`);
    console.log(`verify export file (signatures)    ${r.verifyExportPerSec} rec/s`);
  }
}
