import test from "ava";
import { hashHeader, makeBlock, type Block } from "../src/ledger/block.js";
import { targetForTier } from "../src/ledger/difficulty.js";
import { genesisBlock, type NetworkDescriptor } from "../src/ledger/genesis.js";
import { Identity } from "../src/ledger/identity.js";
import { EMPTY_ROOT } from "../src/ledger/merkle.js";
import {
  checkBranch,
  mergeBranches,
  signCheckpoint,
  verifyCheckpoint,
  verifyMerged,
  type BranchReport,
} from "../src/ledger/inventory.js";

const admin = Identity.generate();
const desc: NetworkDescriptor = { name: "inventory-test", adminPublicKey: admin.publicKeyHex };
const genesis = genesisBlock(desc);

function branch(miner: Identity, n: number, t0: number): Block[] {
  const out: Block[] = [];
  let prev = genesis;
  for (let h = 1; h <= n; h++) {
    const header = {
      height: h,
      prev: prev.hash,
      timestamp: t0 + h * 1000,
      miner: miner.id,
      target: targetForTier(4),
      nonce: 0,
      sealedRoot: EMPTY_ROOT,
    };
    prev = makeBlock(header, hashHeader(header), miner);
    out.push(prev);
  }
  return out;
}

const n1 = Identity.generate();
const n2 = Identity.generate();
const b1 = branch(n1, 4, 1_000);
const b2 = branch(n2, 3, 1_500);

test("valid branches merge in one deterministic order whatever order they arrive in", (t) => {
  const r1: BranchReport = { miner: n1.id, blocks: b1, invalid: [] };
  const r2: BranchReport = { miner: n2.id, blocks: [...b2].reverse(), invalid: [] };
  const a = mergeBranches(desc, [r1, r2]);
  const b = mergeBranches(desc, [r2, r1]);
  t.deepEqual(
    a.blocks.map((x) => x.hash),
    b.blocks.map((x) => x.hash),
  );
  t.is(a.blocks.length, 7);
  t.true(a.blocks.every((x, i) => i === 0 || a.blocks[i - 1].timestamp <= x.timestamp));
  t.deepEqual(a.invalid, []);
});

test("a block the miner invalidated is left out and listed; the branch goes on after it", (t) => {
  const c = checkBranch(genesis, {
    miner: n1.id,
    blocks: b1,
    invalid: [{ hash: b1[1].hash, reason: "low battery" }],
  });
  t.is(c.valid.length, 3);
  t.deepEqual(c.invalid, [{ miner: n1.id, height: 2, hash: b1[1].hash, reason: "low battery" }]);
  t.is(c.head.hash, b1[3].hash);
});

test("a tampered block cuts its branch there, and everything after it is listed", (t) => {
  const tampered = b1.map((b, i) => (i === 2 ? { ...b, timestamp: b.timestamp + 1 } : b));
  const c = checkBranch(genesis, { miner: n1.id, blocks: tampered, invalid: [] });
  t.is(c.valid.length, 2);
  t.deepEqual(
    c.invalid.map((i) => [i.height, i.reason]),
    [
      [3, "hash does not match header"],
      [4, "after a broken link"],
    ],
  );
});

test("a branch reported by someone else's id is refused block by block", (t) => {
  const c = checkBranch(genesis, { miner: n2.id, blocks: b1, invalid: [] });
  t.is(c.valid.length, 0);
  t.is(c.invalid[0].reason, "mined by another node");
});

test("the checkpoint is signed by the admin and any change to it is detected", (t) => {
  const merged = mergeBranches(desc, [
    { miner: n1.id, blocks: b1, invalid: [] },
    { miner: n2.id, blocks: b2, invalid: [] },
  ]);
  const cp = signCheckpoint(admin, desc, merged, []);
  t.is(verifyCheckpoint(cp, desc), null);
  t.is(verifyMerged(desc, cp, merged.blocks), null);
  t.regex(verifyCheckpoint({ ...cp, blocks: cp.blocks + 1 }, desc) ?? "", /bad admin signature/);
  t.regex(verifyCheckpoint({ ...cp, root: "0".repeat(64) }, desc) ?? "", /root does not match/);
  const impostor = Identity.generate();
  t.regex(verifyCheckpoint(signCheckpoint(impostor, desc, merged, []), desc) ?? "", /admin key/);
  const dropped = merged.blocks.slice(1);
  t.regex(verifyMerged(desc, cp, dropped) ?? "", /counts 7 blocks/);
});
