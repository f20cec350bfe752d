// Flowcoin's "mining-transaction-approval-verify" (paper 5.4): an endpoint asks any node to
// approve a transaction; the network fetches the record from the nodes that hold it, checks its
// signature, its txID formula and its inclusion in the recording node's branch, and only then
// marks it verified and grants that node one Flowcoin.
//
// A grant is itself a ledger record, with a chunk derived only from the approved transaction, so
// its key is fixed: approving twice routes the same chunk to the same owner, which stores it once.
// The grant record is also the durable "verified" mark (it is replicated like any record), and a
// balance is recomputed by counting valid grants, never kept as a counter.
import { z } from "zod";
import type { PeerRef } from "../chord/transport.js";
import { verifyRecord, type RecordDoc } from "../ledger/record.js";
import { AuthError, InputError, NotFoundError } from "../util/errors.js";
import type { ApproveResult } from "./api.js";
import type { PeerClient } from "./protocol/peer-client.js";
import { keyedChunk, type KeyedChunk } from "./keyed-chunk.js";
import { HEX64 } from "../util/hex.js";

export const FLOWCOIN_SOURCE = "urn:flowchain:flowcoin";

/** The endpoint credential that approved a transaction (its fingerprint and subject), for audit. */
export interface Approver {
  credential: string;
  subject: string;
}

export interface GrantValue {
  "@type": "FlowcoinGrant";
  to: string;
  txID: string;
  amount: 1;
  approvedBy?: Approver;
}

const APPROVER = z.strictObject({
  credential: z.string().regex(/^[0-9a-f]{16}$/),
  subject: z.string().min(1).max(64),
});

/**
 * The grant an approval of `doc` records: derived from the transaction and who approved it, so
 * an owner can rebuild it and a member cannot grant anything else. Grants recorded before
 * approvals named their endpoint have no approvedBy and stay valid.
 */
export function grantChunk(doc: RecordDoc, approvedBy?: Approver): KeyedChunk {
  const value: GrantValue = { "@type": "FlowcoinGrant", to: doc.miner, txID: doc.txID, amount: 1 };
  if (approvedBy !== undefined)
    value.approvedBy = { credential: approvedBy.credential, subject: approvedBy.subject };
  return keyedChunk({ source: FLOWCOIN_SOURCE, timestamp: doc.timestamp, value });
}

const GRANT = z.object({
  "@type": z.literal("FlowcoinGrant"),
  to: z.string(),
  txID: z.string(),
  amount: z.literal(1),
  approvedBy: APPROVER.optional(),
});
/** Enough of a grant to name the transaction it pays for; the rest is checked against that transaction. */
const GRANT_CLAIM = z.looseObject({
  "@type": z.literal("FlowcoinGrant"),
  txID: z.unknown(),
  approvedBy: APPROVER.optional(),
});

export function isGrant(doc: RecordDoc): doc is RecordDoc & { value: GrantValue } {
  return doc.source === FLOWCOIN_SOURCE && GRANT.safeParse(doc.value).success;
}

/**
 * True when a grant record pays for a real, verified transaction of the node it names. A signed
 * grant alone proves only that some member recorded it: a member that ground a grant's timestamp
 * until its key fell in its own range could record one naming any transaction, or none.
 */
export async function grantHolds(deps: ApprovalDeps, grant: RecordDoc): Promise<boolean> {
  if (!isGrant(grant) || verifyRecord(grant) !== null) return false;
  try {
    if (!(await deps.inBranch(grant, []))) return false;
    const { source, timestamp, value, key } = grant;
    await checkGrant(deps, { source, timestamp, value, key });
    return true;
  } catch {
    return false;
  }
}

/** Coins of `nodeId`: distinct approved transactions among valid grant records. */
export function countCoins(grants: Iterable<RecordDoc>, nodeId: string): number {
  const approved = new Set<string>();
  for (const g of grants) {
    if (isGrant(g) && g.value.to === nodeId && verifyRecord(g) === null) approved.add(g.value.txID);
  }
  return approved.size;
}

export interface ApprovalDeps {
  members(): Promise<PeerRef[]>;
  selfId: string;
  client: Pick<PeerClient, "call" | "tryCall">;
  localByTx(txID: string): Promise<RecordDoc | undefined>;
  /** True when a record's block is in its miner's branch back to genesis (see branch-proofs.ts). */
  inBranch(doc: RecordDoc, via: PeerRef[]): Promise<boolean>;
  find(key: string): Promise<RecordDoc | undefined>;
  storeGrant(chunk: KeyedChunk): Promise<unknown>;
  /** A grant record the network holds for this transaction, whoever approved it. */
  grantOf(doc: RecordDoc): Promise<RecordDoc | undefined>;
  holdersOf(key: string): Promise<PeerRef[]>;
  emitVerified(e: { txID: string; miner: string }): void;
}

/**
 * The network's verification of one transaction: found on its holders, its signature and txID
 * formula sound, and its block in the recording node's branch. Returns the record.
 */
export async function verifyTransaction(deps: ApprovalDeps, txID: unknown): Promise<RecordDoc> {
  if (typeof txID !== "string" || !HEX64.test(txID)) {
    throw new InputError("bad_txid", "txID must be 64 lowercase hex characters");
  }
  const members = await deps.members();
  const doc = await locate(deps, members, txID);
  if (!doc) throw new NotFoundError(`no transaction ${txID} in this network`);

  const bad = verifyRecord(doc);
  if (bad !== null) throw new InputError("tampered", `transaction ${txID} fails verification: ${bad}`);
  if (isGrant(doc)) throw new InputError("not_approvable", "a Flowcoin grant is not itself approved");
  // The miner first (its own pages), then the copies of its branch its successors keep.
  const miner = members.find((m) => m.id === doc.miner);
  const via = [...(miner ? [miner] : []), ...members.filter((m) => m.id !== doc.miner)];
  if (!(await deps.inBranch(doc, via))) {
    throw new InputError(
      "not_included",
      `transaction ${txID} is not included in its miner's branch: block ${doc.block} does not link back to genesis in the branch of ${doc.miner}, nor in any copy of it a member keeps`,
    );
  }
  await assertPayable(deps, members, doc);
  return doc;
}

/**
 * Approval pays once per chunk key. A chunk recorded twice (in two owners' branches, e.g. on both
 * sides of a partition) leaves two valid records; the payable one is the one with the lowest txID
 * among those the network holds, so every approval of that chunk names the same grant.
 */
async function assertPayable(deps: ApprovalDeps, members: PeerRef[], doc: RecordDoc): Promise<void> {
  const copies = await Promise.all(
    members
      .filter((m) => m.id !== deps.selfId)
      .map((m) => deps.client.tryCall(m, "store.get", { key: doc.key }, null)),
  );
  const local = await deps.find(doc.key).catch(() => undefined);
  for (const other of [local, ...copies]) {
    if (!other || other.key !== doc.key || other.txID >= doc.txID || verifyRecord(other) !== null) continue;
    // A record in no real branch (planted by a member) is nobody's payable twin.
    if (!(await deps.inBranch(other, members))) continue;
    throw new InputError(
      "duplicate_record",
      `chunk ${doc.key} is also recorded as ${other.txID}: approval pays once per chunk key, for that record`,
    );
  }
}

/**
 * The owner of a grant's key checks it before recording it: a member cannot mint coins by sending
 * a grant chunk of its own making, only the chunk an approval of a real transaction produces.
 */
export async function checkGrant(deps: ApprovalDeps, chunk: KeyedChunk): Promise<void> {
  const claim = GRANT_CLAIM.safeParse(chunk.value);
  if (!claim.success) throw new InputError("forged_grant", `${FLOWCOIN_SOURCE} takes Flowcoin grants only`);
  const doc = await verifyTransaction(deps, claim.data.txID);
  if (grantChunk(doc, claim.data.approvedBy).key !== chunk.key) {
    throw new InputError("forged_grant", "the grant does not match the transaction it names");
  }
}

export async function approve(deps: ApprovalDeps, txID: string, by?: Approver): Promise<ApproveResult> {
  const doc = await verifyTransaction(deps, txID);

  const grant = grantChunk(doc, by);
  // One grant per transaction: an earlier approval (by this endpoint, another, or from before
  // grants named endpoints) already paid for it.
  const already = (await deps.find(grant.key)) ?? (await deps.grantOf(doc));
  if (!already) await deps.storeGrant(grant);
  const verified = { txID, miner: doc.miner };
  deps.emitVerified(verified);
  // Holders of the record learn it is verified from the grant itself, which each checks: the
  // grant record is the durable mark, and a notice without it proves nothing.
  const grantDoc = already ?? (await deps.find(grant.key));
  if (grantDoc) {
    for (const h of await deps.holdersOf(doc.key)) {
      if (h.id !== deps.selfId)
        void deps.client.tryCall(h, "flowcoin.verified", { ...verified, grant: grantDoc }, null);
    }
  }
  return already
    ? { txID, verified: true, granted: false, miner: doc.miner, reason: "already approved: granted once" }
    : { txID, verified: true, granted: true, miner: doc.miner };
}

/**
 * A holder of a transaction checks a `verified` notice before passing it on as its own event: the
 * notice carries the grant record, which must be a sound grant for this very transaction (held
 * here), recorded in its miner's branch. A member cannot make a node announce an approval that
 * never happened.
 */
export async function checkVerifiedNotice(
  deps: ApprovalDeps,
  notice: { txID: string; miner: string; grant: RecordDoc },
  via: PeerRef[],
): Promise<void> {
  const { txID, miner, grant } = notice;
  if (
    !isGrant(grant) ||
    verifyRecord(grant) !== null ||
    grant.value.txID !== txID ||
    grant.value.to !== miner
  ) {
    throw new AuthError(
      "bad_notice",
      "a verified notice carries the signed grant of the transaction it names",
    );
  }
  const tx = await deps.localByTx(txID);
  if (!tx || tx.miner !== miner)
    throw new NotFoundError(`this node holds no transaction ${txID} of ${miner}`);
  if (grantChunk(tx, grant.value.approvedBy).key !== grant.key) {
    throw new AuthError("bad_notice", "the grant does not match the transaction it names");
  }
  if (!(await deps.inBranch(grant, via))) {
    throw new AuthError("bad_notice", "the grant is not in its miner's branch");
  }
}

async function locate(deps: ApprovalDeps, members: PeerRef[], txID: string): Promise<RecordDoc | undefined> {
  const local = await deps.localByTx(txID);
  if (local) return local;
  const found = await Promise.all(
    members
      .filter((m) => m.id !== deps.selfId)
      .map((m) => deps.client.tryCall(m, "store.byTx", { txID }, null)),
  );
  return found.find((d): d is RecordDoc => d !== null && d.txID === txID);
}
