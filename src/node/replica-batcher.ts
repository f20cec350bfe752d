// Replication under load sends one request per record otherwise; this coalesces records bound for
// the same peer while a request to it is in flight (group commit, applied to the network), so a
// busy owner sends a few large batches instead of thousands of small requests.
import type { PeerRef } from "../chord/transport.js";
import type { RecordDoc } from "../ledger/record.js";

const MAX_BATCH = 500;

interface Waiter {
  doc: RecordDoc;
  resolve: () => void;
  reject: (err: unknown) => void;
}

export type SendBatch = (to: PeerRef, records: RecordDoc[]) => Promise<unknown>;

export class ReplicaBatcher {
  private readonly queues = new Map<string, { peer: PeerRef; waiting: Waiter[]; busy: boolean }>();

  constructor(private readonly sendBatch: SendBatch) {}

  send(to: PeerRef, doc: RecordDoc): Promise<void> {
    let q = this.queues.get(to.id);
    if (!q) {
      q = { peer: to, waiting: [], busy: false };
      this.queues.set(to.id, q);
    }
    const queue = q;
    const p = new Promise<void>((resolve, reject) => queue.waiting.push({ doc, resolve, reject }));
    if (!queue.busy) void this.drain(to.id);
    return p;
  }

  private async drain(id: string): Promise<void> {
    const q = this.queues.get(id);
    if (!q) return;
    q.busy = true;
    try {
      while (q.waiting.length > 0) {
        const batch = q.waiting.splice(0, MAX_BATCH);
        try {
          await this.sendBatch(
            q.peer,
            batch.map((w) => w.doc),
          );
          for (const w of batch) w.resolve();
        } catch (err) {
          for (const w of batch) w.reject(err);
        }
      }
    } finally {
      q.busy = false;
      if (q.waiting.length === 0) this.queues.delete(id);
    }
  }
}
