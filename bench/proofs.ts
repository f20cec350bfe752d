// Inclusion proof sizes (compact JSON bytes, and gzip for a constrained link) for a record in a
// block of 1, 100 and 10,000 records, with and without the covering checkpoint (of a 2-member
// network whose head is 2 blocks past the sealing block), and how fast one verifies.
import { gzipSync } from "node:zlib";
import { checkProof } from "../src/node/proofs.js";
import { proofFixture } from "../test/helpers/proof-fixture.js";

export async function benchProofs(): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {};
  for (const n of [1, 100, 10_000]) {
    const f = proofFixture(n);
    // Leaf 0 sits in the largest perfect subtree: the longest path the block has, ⌈log2 n⌉.
    const i = 0;
    const bare = JSON.stringify(f.proof(i, { checkpoint: false }));
    const full = JSON.stringify(f.proof(i));
    const record = JSON.stringify(f.records[i]);
    const rounds = 200;
    const t0 = performance.now();
    for (let k = 0; k < rounds; k++) if (!checkProof(JSON.parse(full)).ok) throw new Error("proof fails");
    const verifyMs = (performance.now() - t0) / rounds;
    out[`records=${n}`] = {
      pathLength: f.proof(i).merkle.path.length,
      recordBytes: record.length,
      proofBytes: bare.length,
      proofGzipBytes: gzipSync(bare).length,
      withCheckpointBytes: full.length,
      withCheckpointGzipBytes: gzipSync(full).length,
      verifyMs: Number(verifyMs.toFixed(2)),
    };
  }
  return out;
}
