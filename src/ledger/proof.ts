// Inclusion proofs: everything a reader needs to check one record without trusting any node.
// Pure: buildProof assembles one from what the record's miner stores, verifyProof checks one
// (building and checking stay apart, as in Hypercore, so a verifier never runs builder code).
//
// What a proof shows, and from what (the byte-exact format is in the README, "Inclusion proofs"):
// - the record is signed by its miner's key and its key and txID follow from its contents;
// - the record's block is signed by the same key (hash, proof of work) and is the block the record
//   names; the next block of the branch links to it and its sealedRoot is reached from the txID
//   by the audit path (RFC 6962, or the version-1 rule for blocks sealed before it);
// - the miner holds a membership token the network's admin signed. A token is a bearer credential
//   that does not name the node's key: it shows the proof comes from inside the network, not that
//   this key was admitted. What binds the miner's branch to the admin is the checkpoint:
// - where an admin-signed inventory checkpoint covers the sealing block, the proof carries it, the
//   headers from the sealing block up to the branch head it names, and the head's audit path into
//   the checkpoint's root. The report's `anchor` says which of the two the proof rests on.
import { merkleVersionOf, verifyBlock, type Block } from "./block.js";
import { LEDGER_CONTEXT_URL } from "./context.js";
import { checkDescriptor, networkId, type NetworkDescriptor } from "./genesis.js";
import { verifyCheckpoint, type Checkpoint } from "./inventory.js";
import { auditPath, rootFromPath } from "./merkle.js";
import { verifyRecord, type RecordDoc } from "./record.js";
import { HEX64 } from "../util/hex.js";

export const PROOF_VERSION = 1;
/** Headers a proof carries at most past the sealing block to reach a checkpointed head. */
export const MAX_CHECKPOINT_CHAIN = 256;
/** Longest audit path: a tree of 2^64 leaves. */
const MAX_PATH = 64;

export interface InclusionProof {
  "@context": string;
  "@type": "InclusionProof";
  version: typeof PROOF_VERSION;
  network: NetworkDescriptor;
  record: RecordDoc;
  /** Audit path of the record's txID in its block's tree (index = record.index, size = records in the block). */
  merkle: { index: number; size: number; path: string[] };
  /** The record's block, the block sealing it, then on to the checkpointed head if there is a checkpoint. */
  blocks: Block[];
  /** The miner's admin-signed join token (net/membership.ts). */
  membership: string;
  checkpoint: { checkpoint: Checkpoint; index: number; path: string[] } | null;
}

export interface ProofParts {
  network: NetworkDescriptor;
  record: RecordDoc;
  /** txIDs of the record's block in leaf order. */
  leaves: readonly string[];
  /** The record's block, its sealing block, and any blocks after it up to the checkpoint's head. */
  blocks: Block[];
  membership: string;
  checkpoint?: Checkpoint | null;
}

export function buildProof(p: ProofParts): InclusionProof {
  const [block, sealing] = p.blocks;
  if (!block || block.hash !== p.record.block) throw new RangeError("first block is not the record's block");
  if (!sealing) throw new RangeError("the record's block is not sealed yet");
  if (p.leaves[p.record.index] !== p.record.txID) throw new RangeError("leaves do not hold the record");
  let checkpoint: InclusionProof["checkpoint"] = null;
  if (p.checkpoint) {
    const heads = p.checkpoint.heads.map((h) => h.head);
    const last = p.blocks[p.blocks.length - 1];
    const index = heads.indexOf(last.hash);
    if (index < 0) throw new RangeError("the checkpoint does not name the last block as a head");
    checkpoint = {
      checkpoint: p.checkpoint,
      index,
      path: auditPath(heads, index, p.checkpoint.merkle ?? 1),
    };
  }
  return {
    "@context": LEDGER_CONTEXT_URL,
    "@type": "InclusionProof",
    version: PROOF_VERSION,
    network: { name: p.network.name, adminPublicKey: p.network.adminPublicKey },
    record: p.record,
    merkle: {
      index: p.record.index,
      size: p.leaves.length,
      path: auditPath(p.leaves, p.record.index, merkleVersionOf(sealing)),
    },
    blocks: p.blocks,
    membership: p.membership,
    checkpoint,
  };
}

/**
 * Among checkpoints (any order), the latest whose head of `miner`'s branch is at or after the
 * sealing block and at most MAX_CHECKPOINT_CHAIN blocks past it (the proof carries every header in
 * between, so an older covering checkpoint is preferred to an unbounded proof).
 */
export function coveringCheckpoint(
  checkpoints: readonly Checkpoint[],
  miner: string,
  sealingHeight: number,
): { checkpoint: Checkpoint; head: { height: number; head: string } } | null {
  let best: { checkpoint: Checkpoint; head: { height: number; head: string } } | null = null;
  for (const c of checkpoints) {
    const head = c.heads.find((h) => h.miner === miner);
    if (!head || head.height < sealingHeight || head.height - sealingHeight > MAX_CHECKPOINT_CHAIN) continue;
    if (best === null || c.time > best.checkpoint.time) best = { checkpoint: c, head };
  }
  return best;
}

export type ProofStep =
  "shape" | "network" | "record" | "block" | "chain" | "seal" | "membership" | "checkpoint";

export interface ProofReport {
  ok: boolean;
  /** Each step checked, in order, until the first failure. */
  steps: { step: ProofStep; ok: boolean; detail: string }[];
  /** The first failure, as "step: what". */
  reason?: string;
  txID?: string;
  miner?: string;
  networkId?: string;
  /** What ties the miner's branch to the network's admin key. */
  anchor?: "checkpoint" | "membership";
}

export interface VerifyProofOptions {
  /** Checks the membership token against the network (net/membership.ts verifyMembershipToken). */
  checkMembership: (token: unknown, expected: { networkId: string; adminPublicKey: string }) => boolean;
  /** Refuse proofs of any other network (by id or by admin key). */
  networkId?: string;
  adminPublicKey?: string;
}

class StepFailure extends Error {
  constructor(
    readonly step: ProofStep,
    message: string,
  ) {
    super(message);
  }
}

const fail = (step: ProofStep, why: string): never => {
  throw new StepFailure(step, why);
};

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

function checkPath(step: ProofStep, path: unknown): string[] {
  if (!Array.isArray(path) || path.length > MAX_PATH) return fail(step, "path is not a list of hashes");
  for (const p of path) if (typeof p !== "string" || !HEX64.test(p)) fail(step, "path holds a non-hash");
  return path as string[];
}

/**
 * The record and the blocks from its own onwards, as far as they go: the record checks out, the
 * first block is the record's and is signed by the record's miner, and each further block links to
 * the one before it in the same branch. Approval (node/approval.ts) uses this for the block it
 * fetched; verifyProof for the whole chain. Returns null or "step: what".
 */
export function checkRecordInBranch(record: RecordDoc, blocks: readonly Block[]): string | null {
  try {
    recordInBranch(record, blocks, () => undefined);
    return null;
  } catch (e) {
    if (e instanceof StepFailure) return `${e.step}: ${e.message}`;
    throw e;
  }
}

function recordInBranch(
  record: RecordDoc,
  blocks: readonly Block[],
  passed: (step: ProofStep, detail: string) => void,
): void {
  const bad = verifyRecord(record);
  if (bad !== null) fail("record", bad);
  passed("record", `txID ${record.txID} signed by ${record.miner}`);
  const [first] = blocks;
  if (!isObject(first)) fail("block", "the record's block is missing");
  const badBlock = verifyBlock(first);
  if (badBlock !== null) fail("block", badBlock);
  if (first.hash !== record.block) fail("block", "is not the block the record names");
  if (first.height !== record.height) fail("block", "height differs from the record's");
  if (first.miner !== record.miner || first.minerKey !== record.minerKey)
    fail("block", "not mined by the record's miner");
  passed("block", `block ${first.height} ${first.hash} signed by the miner`);
  for (let i = 1; i < blocks.length; i++) {
    const b = blocks[i];
    const prev = blocks[i - 1];
    const at = `block ${i} of the chain`;
    if (!isObject(b)) fail("chain", `${at} is not a block`);
    const why = verifyBlock(b);
    if (why !== null) fail("chain", `${at}: ${why}`);
    if (b.prev !== prev.hash || b.height !== prev.height + 1) fail("chain", `${at} does not follow ${i - 1}`);
    if (b.miner !== first.miner || b.minerKey !== first.minerKey) fail("chain", `${at} is another miner's`);
  }
  if (blocks.length > 1) passed("chain", `${blocks.length - 1} signed header(s) after the record's block`);
}

/** Checks a proof from its bytes alone; never throws. */
export function verifyProof(proof: unknown, opts: VerifyProofOptions): ProofReport {
  const steps: ProofReport["steps"] = [];
  const passed = (step: ProofStep, detail: string) => steps.push({ step, ok: true, detail });
  const report: ProofReport = { ok: false, steps };
  try {
    if (!isObject(proof) || proof["@type"] !== "InclusionProof") fail("shape", "not an InclusionProof");
    const p = proof as unknown as InclusionProof;
    if (p.version !== PROOF_VERSION) fail("shape", `unknown proof version ${String(p.version)}`);
    if (!isObject(p.record) || !Array.isArray(p.blocks) || !isObject(p.merkle))
      fail("shape", "record, blocks or merkle missing");
    if (p.blocks.length > MAX_CHECKPOINT_CHAIN + 2) fail("shape", "too many blocks");

    try {
      checkDescriptor(p.network);
    } catch (e) {
      fail("network", (e as Error).message);
    }
    const id = networkId(p.network);
    if (opts.networkId !== undefined && id !== opts.networkId)
      fail("network", `network ${id} is not the one expected`);
    if (opts.adminPublicKey !== undefined && p.network.adminPublicKey !== opts.adminPublicKey)
      fail("network", "admin key is not the one expected");
    report.networkId = id;
    passed("network", `network ${id} ("${p.network.name}")`);

    report.txID = typeof p.record.txID === "string" ? p.record.txID : undefined;
    recordInBranch(p.record, p.blocks, passed);
    report.miner = p.record.miner;

    const sealing = p.blocks[1];
    if (sealing === undefined) fail("seal", "no block seals the record's block");
    const { index, size } = p.merkle;
    if (index !== p.record.index) fail("seal", "index differs from the record's");
    if (!Number.isSafeInteger(size) || size <= index) fail("seal", "bad tree size");
    const path = checkPath("seal", p.merkle.path);
    const root = rootFromPath(p.record.txID, index, size, path, merkleVersionOf(sealing));
    if (root === null) fail("seal", "path does not fit the index and size");
    if (root !== sealing.sealedRoot) fail("seal", "path does not lead to the sealing block's sealedRoot");
    passed("seal", `leaf ${index} of ${size} reaches sealedRoot of block ${sealing.height}`);

    const expected = { networkId: id, adminPublicKey: p.network.adminPublicKey };
    if (!opts.checkMembership(p.membership, expected))
      fail("membership", "the token is not signed by the network's admin");
    passed("membership", "join token signed by the network's admin");

    report.anchor = "membership";
    if (p.checkpoint !== null && p.checkpoint !== undefined) {
      checkCheckpoint(p, passed);
      report.anchor = "checkpoint";
    } else if (p.blocks.length > 2) {
      fail("checkpoint", "blocks past the sealing block without a checkpoint");
    }
    report.ok = true;
  } catch (e) {
    if (!(e instanceof StepFailure)) {
      steps.push({ step: "shape", ok: false, detail: `malformed: ${(e as Error).message}` });
      report.reason = `shape: malformed: ${(e as Error).message}`;
      return report;
    }
    steps.push({ step: e.step, ok: false, detail: e.message });
    report.reason = `${e.step}: ${e.message}`;
  }
  return report;
}

function checkCheckpoint(p: InclusionProof, passed: (step: ProofStep, detail: string) => void): void {
  const cp = p.checkpoint!;
  if (!isObject(cp) || !isObject(cp.checkpoint)) fail("checkpoint", "malformed");
  const c = cp.checkpoint;
  const bad = verifyCheckpoint(c, p.network);
  if (bad !== null) fail("checkpoint", bad);
  const head = Array.isArray(c.heads) ? c.heads[cp.index] : undefined;
  if (!Number.isSafeInteger(cp.index) || !isObject(head)) fail("checkpoint", "index names no head");
  const last = p.blocks[p.blocks.length - 1];
  if (head!.miner !== p.record.miner) fail("checkpoint", "the head is another miner's");
  if (head!.head !== last.hash || head!.height !== last.height)
    fail("checkpoint", "the head is not the last block of the chain");
  const path = checkPath("checkpoint", cp.path);
  if (!HEX64.test(head!.head)) fail("checkpoint", "head is not a hash");
  const root = rootFromPath(head!.head, cp.index, c.heads.length, path, c.merkle ?? 1);
  if (root !== c.root) fail("checkpoint", "path does not lead from the head to the checkpoint root");
  passed(
    "checkpoint",
    `admin-signed checkpoint of ${new Date(c.time).toISOString()} names head ${last.height}`,
  );
}
