import type { Block } from "./block.js";
import type { RecordDoc } from "./record.js";

/** What a Ledger emits, and with what. */
export interface LedgerEvents {
  /** A block of this node's branch, once durable. */
  block: [block: Block];
  /** One of this node's own records, once durable. */
  transaction: [doc: RecordDoc];
  /** The block in use was retired; records wait for the next one. */
  invalid: [info: { hash: string; reason: string }];
  /** Records are waiting because no valid block exists; count is how many. */
  queued: [info: { count: number }];
}

/** How a part of the ledger emits: a listener that throws is logged, never thrown into the caller. */
export type Emit = <K extends keyof LedgerEvents>(event: K, ...args: LedgerEvents[K]) => void;
