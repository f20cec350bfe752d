// A second verifier written from the README's "Inclusion proofs" section alone (node:crypto and an
// RFC 8785 serialiser, none of the project's code): it accepts the proofs the project builds and
// rejects the same tampered ones, so the README says enough to write a verifier.
import test from "ava";
import canonicalize from "canonicalize";
import { createHash, createPublicKey, verify as edVerify } from "node:crypto";
import { verifyMembershipToken } from "../src/net/membership.js";
import { verifyProof } from "../src/ledger/proof.js";
import { proofFixture } from "./helpers/proof-fixture.js";

type J = Record<string, any>;

const canon = (x: unknown): Buffer =>
  Buffer.from((canonicalize as unknown as (v: unknown) => string)(x), "utf8");
const H = (...b: Buffer[]) => createHash("sha256").update(Buffer.concat(b)).digest();
const dH = (b: Buffer) => H(H(b)).toString("hex");
const hex = (s: string) => Buffer.from(s, "hex");
const HEX64 = /^[0-9a-f]{64}$/;
const ed = (key: string, msg: Buffer, sig: Buffer) =>
  edVerify(
    null,
    msg,
    createPublicKey({
      key: Buffer.concat([hex("302a300506032b6570032100"), hex(key)]),
      format: "der",
      type: "spki",
    }),
    sig,
  );

function hashers(v: number) {
  return v === 2
    ? {
        leaf: (x: string) => H(Buffer.from([0]), hex(x)).toString("hex"),
        node: (l: string, r: string) => H(Buffer.from([1]), hex(l), hex(r)).toString("hex"),
        empty: H().toString("hex"),
      }
    : {
        leaf: (x: string) => x,
        node: (l: string, r: string) => dH(Buffer.from(l + r)),
        empty: "0".repeat(64),
      };
}

function pathRoot(leaf: string, i: number, n: number, path: string[], v: number): string | null {
  const h = hashers(v);
  if (!(i < n) || path.length > 64 || !path.every((p) => HEX64.test(p))) return null;
  let [fn, sn, r] = [i, n - 1, h.leaf(leaf)];
  for (const p of path) {
    if (sn === 0) return null;
    if (fn % 2 === 1 || fn === sn) {
      r = h.node(p, r);
      while (fn % 2 === 0 && fn !== 0) [fn, sn] = [Math.floor(fn / 2), Math.floor(sn / 2)];
    } else r = h.node(r, p);
    [fn, sn] = [Math.floor(fn / 2), Math.floor(sn / 2)];
  }
  return sn === 0 ? r : null;
}

function treeHash(leaves: string[], v: number): string {
  const h = hashers(v);
  const rec = (d: string[]): string => {
    if (d.length === 1) return h.leaf(d[0]);
    let k = 1;
    while (k * 2 < d.length) k *= 2;
    return h.node(rec(d.slice(0, k)), rec(d.slice(k)));
  };
  return leaves.length === 0 ? h.empty : rec(leaves);
}

// The header rebuilt as the README says, not with block.ts: being independent is the point.
function blockOk(b: J): boolean {
  const ints =
    ["height", "nonce", "timestamp"].every((f) => Number.isSafeInteger(b[f]) && b[f] >= 0) && b.height >= 1;
  const hexes = ["prev", "miner", "target", "sealedRoot", "hash", "minerKey"].every((f) => HEX64.test(b[f]));
  if (b["@type"] !== "Block" || !ints || !hexes || "network" in b || ![undefined, 2].includes(b.merkle))
    return false;
  const header: J = {
    height: b.height,
    prev: b.prev,
    timestamp: b.timestamp,
    miner: b.miner,
    target: b.target,
    nonce: b.nonce,
    sealedRoot: b.sealedRoot,
  };
  if (b.merkle !== undefined) header.merkle = b.merkle;
  return (
    dH(canon(header)) === b.hash &&
    BigInt("0x" + b.hash) <= BigInt("0x" + b.target) &&
    H(hex(b.minerKey)).toString("hex") === b.miner &&
    ed(b.minerKey, Buffer.from(b.hash), hex(b.signature))
  );
}

/** The README's steps 1-7; true when the proof holds. */
function readmeVerify(p: J): boolean {
  const { network: N, record: R, merkle: M, blocks: B, membership: T, checkpoint: CP } = p;
  if (p["@type"] !== "InclusionProof" || p.version !== 1) return false;
  // 1. network
  if (typeof N.name !== "string" || N.name.length < 1 || N.name.length > 128 || !HEX64.test(N.adminPublicKey))
    return false;
  const genesis = {
    height: 0,
    miner: H(hex(N.adminPublicKey)).toString("hex"),
    network: { adminPublicKey: N.adminPublicKey, name: N.name },
    nonce: 0,
    prev: "0".repeat(64),
    sealedRoot: "0".repeat(64),
    target: "f".repeat(64),
    timestamp: 0,
  };
  const networkId = dH(canon(genesis));
  // 2. record
  const contexts = ["/contexts/ledger-v1.jsonld", "https://flowchain.io/ns/ledger/v1"];
  if (!contexts.includes(R["@context"]) || R["@type"] !== "Transaction") return false;
  if (!["txID", "key", "block", "miner", "minerKey"].every((f) => HEX64.test(R[f]))) return false;
  if (dH(canon({ source: R.source, timestamp: R.timestamp, value: R.value })) !== R.key) return false;
  if (dH(Buffer.from(R.block + R.key)) !== R.txID || H(hex(R.minerKey)).toString("hex") !== R.miner)
    return false;
  const { signature, ...unsigned } = R;
  if (!ed(R.minerKey, canon(unsigned), hex(signature))) return false;
  // 3. block, 4. chain
  if (!Array.isArray(B) || B.length < 1 || B.length > 258) return false;
  if (!B.every(blockOk)) return false;
  if (
    B[0].hash !== R.block ||
    B[0].height !== R.height ||
    B[0].miner !== R.miner ||
    B[0].minerKey !== R.minerKey
  )
    return false;
  for (let m = 1; m < B.length; m++) {
    if (B[m].prev !== B[m - 1].hash || B[m].height !== B[m - 1].height + 1) return false;
    if (B[m].miner !== B[0].miner || B[m].minerKey !== B[0].minerKey) return false;
  }
  // 5. seal
  if (B.length < 2 || M.index !== R.index) return false;
  if (pathRoot(R.txID, M.index, M.size, M.path, B[1].merkle ?? 1) !== B[1].sealedRoot) return false;
  // 6. membership
  const [prefix, P, S, ...rest] = String(T).split(".");
  if (prefix !== "fc1" || rest.length > 0) return false;
  const sig = Buffer.from(S, "base64url");
  if (sig.length !== 64 || sig.toString("base64url") !== S) return false;
  const payload = JSON.parse(Buffer.from(P, "base64url").toString("utf8")) as J;
  if (payload.network !== networkId || payload.adminPublicKey !== N.adminPublicKey) return false;
  if (!ed(N.adminPublicKey, Buffer.from("flowchain/join-token/v1\n" + P), sig)) return false;
  // 7. checkpoint
  if (CP === null) return B.length === 2;
  const C = CP.checkpoint;
  const w = C.merkle ?? 1;
  if (C["@type"] !== "Checkpoint" || C.network !== networkId || C.adminKey !== N.adminPublicKey) return false;
  if (
    C.root !==
    treeHash(
      C.heads.map((h: J) => h.head),
      w,
    )
  )
    return false;
  const { signature: cs, ...body } = C;
  if (!ed(N.adminPublicKey, Buffer.concat([Buffer.from("flowchain/checkpoint/v1\n"), canon(body)]), hex(cs)))
    return false;
  const head = C.heads[CP.index];
  const last = B[B.length - 1];
  if (!head || head.miner !== R.miner || head.head !== last.hash || head.height !== last.height) return false;
  return pathRoot(head.head, CP.index, C.heads.length, CP.path, w) === C.root;
}

const project = (p: unknown) => verifyProof(p, { checkMembership: verifyMembershipToken }).ok;

test("a verifier written from the README accepts the project's proofs and rejects what the project rejects", (t) => {
  for (const [n, merkle] of [
    [1, 2],
    [3, 2],
    [100, 2],
    [6, 1],
  ] as const) {
    const f = proofFixture(n, { merkle });
    for (const i of [0, n - 1]) {
      for (const checkpoint of [true, false]) {
        const p = f.proof(i, { checkpoint }) as unknown as J;
        t.true(readmeVerify(p), `n=${n} v${merkle} i=${i} checkpoint=${checkpoint}`);
        t.true(project(p));
      }
    }
  }
  const f = proofFixture(100);
  const good = f.proof(42) as unknown as J;
  const tampers: ((p: J) => void)[] = [
    (p) => (p.record.value = { i: 43 }),
    (p) => (p.record.index = 43),
    (p) => (p.merkle.path[2] = "00".repeat(32)),
    (p) => (p.merkle.index = 41),
    (p) => (p.blocks[1].sealedRoot = "00".repeat(32)),
    (p) => (p.blocks[0].signature = p.blocks[1].signature),
    (p) => (p.blocks[2].prev = p.blocks[0].hash),
    (p) => (p.network.name = "other"),
    (p) => (p.checkpoint.checkpoint.time += 1),
    (p) => (p.checkpoint.index = 1 - p.checkpoint.index),
    (p) => p.blocks.pop(),
  ];
  for (const [k, tamper] of tampers.entries()) {
    const p = structuredClone(good);
    tamper(p);
    t.false(readmeVerify(p), `tamper ${k} (README verifier)`);
    t.false(project(p), `tamper ${k} (project verifier)`);
  }
});
