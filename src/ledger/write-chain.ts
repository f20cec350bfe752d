// One writer: batches reach LevelDB in the order they were queued, so a block is never on disk
// before the records it seals. A batch may take its place in the order before it is ready (a group
// whose signatures are still being computed), which is what lets signing overlap writing.
import type { AbstractBatchOperation } from "abstract-level";
import type { Db, StoreBatch } from "./store.js";

export type Op = AbstractBatchOperation<Db, string, string>;

export class WriteChain {
  private readonly db: Db;
  /** fsync every write: survives power loss, at a large cost in throughput. */
  private readonly sync: boolean;
  private tail: Promise<void> = Promise.resolve();

  constructor(components: { db: Db }, init: { sync?: boolean } = {}) {
    this.db = components.db;
    this.sync = init.sync ?? false;
  }

  write(ops: Op[] | Promise<StoreBatch>): Promise<void> {
    const p = this.tail.then(async () =>
      Array.isArray(ops) ? this.db.batch(ops, { sync: this.sync }) : (await ops).write({ sync: this.sync }),
    );
    // A failed write fails its own caller; the ones queued behind it still run.
    this.tail = p.catch(() => {});
    return p;
  }

  /** Resolves once everything queued so far has been written or has failed. */
  idle(): Promise<void> {
    return this.tail;
  }
}
