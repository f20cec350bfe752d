// Inclusion proofs, built and checked apart: records in blocks of 1, 2, 3, 100 and 10,000 records
// prove, with and without a checkpoint; every single-character change to the record, the audit
// path, a header, a signature or the checkpoint makes the proof fail, with a reason.
import test from "ava";
import {
  buildProof,
  coveringCheckpoint,
  verifyProof,
  type InclusionProof,
  type ProofReport,
} from "../src/ledger/proof.js";
import { verifyMembershipToken } from "../src/net/membership.js";
import { proofFixture } from "./helpers/proof-fixture.js";

const check = (p: unknown, expect: { networkId?: string; adminPublicKey?: string } = {}): ProofReport =>
  verifyProof(p, { checkMembership: verifyMembershipToken, ...expect });

for (const n of [1, 2, 3, 100, 10_000]) {
  test(`proofs of records in a block of ${n} verify, path length ≤ ⌈log2 n⌉`, (t) => {
    const f = proofFixture(n);
    const indexes = [...new Set([0, 1, Math.floor(n / 2), n - 2, n - 1])].filter((i) => i >= 0 && i < n);
    for (const i of indexes) {
      const proof = f.proof(i);
      const r = check(proof);
      t.true(r.ok, `record ${i}: ${r.reason}`);
      t.is(r.anchor, "checkpoint");
      t.is(r.txID, f.records[i].txID);
      t.deepEqual(
        r.steps.map((s) => s.step),
        ["network", "record", "block", "chain", "seal", "membership", "checkpoint"],
      );
      t.true(proof.merkle.path.length <= Math.ceil(Math.log2(n)));
      const bare = check(f.proof(i, { checkpoint: false }));
      t.true(bare.ok, bare.reason);
      t.is(bare.anchor, "membership");
    }
  });
}

test("a record sealed by a version-1 block proves by the old rule", (t) => {
  const f = proofFixture(5, { merkle: 1 });
  for (let i = 0; i < 5; i++) t.true(check(f.proof(i)).ok);
});

test("a proof of another network, or under another admin key, is refused when one is expected", (t) => {
  const f = proofFixture(3);
  const g = proofFixture(1);
  const p = f.proof(1);
  t.true(check(p, { adminPublicKey: f.admin.publicKeyHex }).ok);
  t.regex(check(p, { adminPublicKey: g.admin.publicKeyHex }).reason!, /^network: /);
  t.regex(check(p, { networkId: check(g.proof(0)).networkId }).reason!, /^network: /);
  // The whole proof re-signed by another admin still names that admin: only an expectation catches it.
  t.regex(check({ ...p, membership: g.token }).reason!, /^membership: /);
});

test("an unsealed record, or a record whose block is missing, cannot be proven", (t) => {
  const f = proofFixture(2);
  t.throws(
    () =>
      buildProof({
        network: f.network,
        record: f.records[0],
        leaves: f.records.map((r) => r.txID),
        blocks: f.blocks.slice(0, 1),
        membership: f.token,
      }),
    { message: /not sealed/ },
  );
  const p = f.proof(0, { checkpoint: false });
  t.regex(check({ ...p, blocks: p.blocks.slice(0, 1) }).reason!, /^seal: no block seals/);
  t.regex(check({ ...p, blocks: [] }).reason!, /^block: /);
  t.regex(check({ ...p, blocks: [...p.blocks, f.blocks[2]] }).reason!, /^checkpoint: blocks past/);
  t.regex(check({ ...p, blocks: [p.blocks[0], f.blocks[2]] }).reason!, /^chain: /);
  t.regex(check(null).reason!, /^shape: /);
  t.regex(check({ ...p, version: 2 }).reason!, /^shape: /);
  t.regex(check({ ...p, merkle: { ...p.merkle, path: "x" } }).reason!, /^seal: /);
});

/** Every string and number under `v`, with a setter: the places a one-character tamper can hit. */
function leaves(v: unknown, path: string[] = []): { path: string[]; value: string | number }[] {
  if (typeof v === "string" || typeof v === "number") return [{ path, value: v }];
  if (Array.isArray(v)) return v.flatMap((x, i) => leaves(x, [...path, String(i)]));
  if (v !== null && typeof v === "object")
    return Object.entries(v).flatMap(([k, x]) => leaves(x, [...path, k]));
  return [];
}

function tampered(proof: InclusionProof, path: string[], value: string | number): InclusionProof {
  const copy = structuredClone(proof) as unknown as Record<string, unknown>;
  let o = copy as Record<string, unknown>;
  for (const k of path.slice(0, -1)) o = o[k] as Record<string, unknown>;
  o[path[path.length - 1]] = value;
  return copy as unknown as InclusionProof;
}

/** Changes character i of s to another character of the same kind (hex stays hex). */
function flip(s: string, i: number): string {
  const c = s[i];
  const hex = "0123456789abcdef";
  const next = hex.includes(c) ? hex[(hex.indexOf(c) + 1) % 16] : c === "a" ? "b" : "a";
  return s.slice(0, i) + next + s.slice(i + 1);
}

test("every single-character tamper of record, path, header, signature and checkpoint fails with a reason", (t) => {
  const f = proofFixture(100);
  const proof = f.proof(37);
  t.true(check(proof).ok);
  // Not covered by anything: the proof's own @context and the blocks' @context are labels. The
  // tree size only fixes the shape of the path (RFC 9162 2.1.3.2): tested apart below.
  const covered = leaves(proof).filter(
    (l) =>
      l.path.join(".") !== "@context" &&
      l.path.join(".") !== "merkle.size" &&
      !(l.path[0] === "blocks" && l.path[2] === "@context"),
  );
  const parts = new Set(covered.map((l) => l.path[0]));
  t.deepEqual([...parts].sort(), [
    "@type",
    "blocks",
    "checkpoint",
    "membership",
    "merkle",
    "network",
    "record",
    "version",
  ]);
  let tries = 0;
  for (const { path, value } of covered) {
    const variants: (string | number)[] =
      typeof value === "number"
        ? [value + 1]
        : Array.from({ length: value.length }, (_, i) => flip(value, i)).filter(
            // Long strings (signatures, the token): every 7th character and the ends keep this quick.
            (_, i) => value.length <= 64 || i % 7 === 0 || i === value.length - 1,
          );
    for (const v of variants) {
      tries++;
      const r = check(tampered(proof, path, v));
      if (r.ok || !r.reason) t.fail(`tamper of ${path.join(".")} = ${String(v)} passed`);
    }
  }
  t.true(tries > 3000, `${tries} tampers`);
  // A size giving the path another shape fails; one giving the same shape (any of 65..128 for leaf
  // 37: 64 | rest) proves the same leaf under the same root, which is all a path shows.
  for (const size of [0, 37, 38, 64, 129, 1000])
    t.regex(check(tampered(proof, ["merkle", "size"], size)).reason ?? "", /^seal: /, `size ${size}`);
  const reasons = new Set(
    [
      ["record", "value", "i"],
      ["merkle", "path", "0"],
      ["blocks", "1", "sealedRoot"],
      ["blocks", "0", "signature"],
      ["checkpoint", "checkpoint", "time"],
      ["checkpoint", "path", "0"],
    ].map((p) => {
      const l = covered.find((c) => c.path.join(".") === p.join("."))!;
      return check(tampered(proof, p, typeof l.value === "number" ? l.value + 1 : flip(l.value, 3))).reason;
    }),
  );
  t.deepEqual(
    [...reasons],
    [
      "record: key does not match chunk",
      "seal: path does not lead to the sealing block's sealedRoot",
      "chain: block 1 of the chain: hash does not match header",
      "block: bad block signature",
      "checkpoint: bad admin signature",
      "checkpoint: path does not lead from the head to the checkpoint root",
    ],
  );
});

test("the covering checkpoint is the latest whose head is at most 256 blocks past the sealing block", (t) => {
  const f = proofFixture(1);
  const c = (time: number, height: number) => ({
    ...f.checkpoint,
    time,
    heads: [{ miner: f.miner.id, height, head: "ab".repeat(32) }],
  });
  t.is(coveringCheckpoint([c(1, 1), c(2, 1)], f.miner.id, 2), null);
  t.is(coveringCheckpoint([c(1, 2), c(3, 500), c(2, 258)], f.miner.id, 2)?.checkpoint.time, 2);
  t.is(coveringCheckpoint([c(1, 2)], "cd".repeat(32), 2), null);
});
