// A withdrawal notice: the miner's own signed statement that one of its records was never
// acknowledged and that another record of the same chunk stands for it.
//
// It exists for one crash: an owner killed after its record was durable but before any copy or
// answer left it. The caller's retry found no trace of that record and the next owner recorded the
// chunk, so the restarted owner holds a second record of a chunk the network already answered for.
// Blocks are signed and immutable, so the record stays in its block (the branch keeps verifying);
// the notice takes it out of every read, count and approval, and says which record replaces it.
import { canonicalJson } from "./canonical.js";
import { LEDGER_CONTEXT_URL } from "./context.js";
import { Identity, nodeIdOf } from "./identity.js";
import { verifyRecord, type RecordDoc } from "./record.js";
import { HEX64 } from "../util/hex.js";

export interface WithdrawalDoc {
  "@context": typeof LEDGER_CONTEXT_URL;
  "@type": "Withdrawal";
  /** The withdrawn record. */
  txID: string;
  key: string;
  block: string;
  miner: string;
  minerKey: string;
  /** The record of the same chunk that stands (another miner's). */
  replacedBy: { txID: string; miner: string };
  reason: string;
  /** ms since the epoch, when the miner withdrew it. */
  at: number;
  signature: string;
}

/** Why `twin` may replace `own`, or null when it may. */
export function twinProblem(own: RecordDoc, twin: RecordDoc): string | null {
  if (twin.key !== own.key) return "the other record is of another chunk";
  if (twin.txID === own.txID) return "the other record is this record";
  if (twin.miner === own.miner) return "the other record is in the same branch";
  return verifyRecord(twin);
}

export function buildWithdrawal(
  own: RecordDoc,
  twin: RecordDoc,
  identity: Identity,
  reason: string,
  at: number,
): WithdrawalDoc {
  const body: Omit<WithdrawalDoc, "signature"> = {
    "@context": LEDGER_CONTEXT_URL,
    "@type": "Withdrawal",
    txID: own.txID,
    key: own.key,
    block: own.block,
    miner: identity.id,
    minerKey: identity.publicKeyHex,
    replacedBy: { txID: twin.txID, miner: twin.miner },
    reason: reason.slice(0, 200),
    at,
  };
  return { ...body, signature: identity.sign(canonicalJson(body)) };
}

/** Null when `doc` is a well-formed withdrawal signed by the miner it names. */
export function verifyWithdrawal(doc: unknown): string | null {
  if (typeof doc !== "object" || doc === null) return "withdrawal is not an object";
  const w = doc as Partial<WithdrawalDoc>;
  if (w["@type"] !== "Withdrawal") return "@type is not Withdrawal";
  for (const f of ["txID", "key", "block", "miner", "minerKey"] as const) {
    if (typeof w[f] !== "string" || !HEX64.test(w[f])) return `bad ${f}`;
  }
  if (typeof w.replacedBy?.txID !== "string" || !HEX64.test(w.replacedBy.txID)) return "bad replacedBy";
  if (nodeIdOf(w.minerKey!) !== w.miner) return "miner is not sha256(minerKey)";
  if (typeof w.signature !== "string") return "missing signature";
  const { signature, ...body } = w;
  let signed: string;
  try {
    signed = canonicalJson(body);
  } catch (e) {
    return `not JSON: ${(e as Error).message}`;
  }
  if (!Identity.verify(w.minerKey!, signed, signature)) return "bad withdrawal signature";
  return null;
}
