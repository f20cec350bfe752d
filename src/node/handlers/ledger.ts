// ledger.*: this node's branch (blocks, pages), copies of its predecessors' branches, checkpoints,
// inclusion proofs of its records.
import type { Handlers } from "../protocol/serve.js";
import { MAX_DUPLICATES } from "../protocol/table.js";
import type { NodeParts } from "./parts.js";

type LedgerHandlers = Pick<
  Handlers,
  | "ledger.block"
  | "ledger.branch"
  | "ledger.blockCopy"
  | "ledger.invalidCopy"
  | "ledger.branchCopy"
  | "ledger.duplicates"
  | "ledger.copies"
  | "ledger.copy"
  | "ledger.checkpoint"
  | "ledger.proof"
>;

export function ledgerHandlers(p: NodeParts): LedgerHandlers {
  return {
    "ledger.block": async ({ hash }) => (await p.ledger.block(hash)) ?? null,
    "ledger.branch": ({ from, limit }) => p.branchSync.page(from, limit),
    "ledger.blockCopy": async ({ block }, from) => {
      await p.copies.addBlock(from.id, block);
      return null;
    },
    "ledger.invalidCopy": async ({ invalid, signature }, from) => {
      await p.copies.addInvalid(from.id, invalid, signature);
      return null;
    },
    "ledger.branchCopy": async ({ blocks, invalid }, from) => {
      for (const b of blocks) await p.copies.addBlock(from.id, b);
      // Notes of blocks this copy lacks are skipped, not fatal: the page they came with is what counts.
      for (const i of invalid) await p.copies.addInvalid(from.id, i).catch(() => undefined);
      return true as const;
    },
    "ledger.duplicates": () => p.placement.duplicates(MAX_DUPLICATES),
    "ledger.copies": async () => (await p.copies.miners()).filter((m) => !p.isRevoked(m)),
    "ledger.copy": ({ miner }) => (p.isRevoked(miner) ? null : p.copies.branch(miner)),
    "ledger.checkpoint": ({ checkpoint }) => p.checkpoints.store(checkpoint),
    "ledger.proof": ({ txID }) => p.proofs.own(txID),
  };
}
