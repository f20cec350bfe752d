// Replication under load sends one request per record otherwise; this coalesces records bound for
// the same peer while requests to it are in flight (group commit, applied to the network), so a
// busy owner sends a few large batches instead of thousands of small requests.
import type { PeerRef } from "../chord/transport.js";
import type { RecordDoc } from "../ledger/record.js";

const MAX_BATCH = 500;
/** Two batches in flight per peer: one travels while the peer writes the other. */
const MAX_IN_FLIGHT = 2;

interface Waiter {
  doc: RecordDoc;
  resolve: () => void;
  reject: (err: unknown) => void;
}

export type SendBatch = (to: PeerRef, records: RecordDoc[]) => Promise<unknown>;

export class ReplicaBatcher {
  private readonly queues = new Map<string, { peer: PeerRef; waiting: Waiter[]; inFlight: number }>();

  constructor(private readonly sendBatch: SendBatch) {}

  send(to: PeerRef, doc: RecordDoc): Promise<void> {
    let q = this.queues.get(to.id);
    if (!q) {
      q = { peer: to, waiting: [], inFlight: 0 };
      this.queues.set(to.id, q);
    }
    const queue = q;
    const p = new Promise<void>((resolve, reject) => queue.waiting.push({ doc, resolve, reject }));
    this.pump(to.id);
    return p;
  }

  private pump(id: string): void {
    const q = this.queues.get(id);
    if (!q) return;
    while (q.inFlight < MAX_IN_FLIGHT && q.waiting.length > 0) {
      const batch = q.waiting.splice(0, MAX_BATCH);
      q.inFlight++;
      this.sendBatch(
        q.peer,
        batch.map((w) => w.doc),
      )
        .then(
          () => batch.forEach((w) => w.resolve()),
          (err: unknown) => batch.forEach((w) => w.reject(err)),
        )
        .finally(() => {
          q.inFlight--;
          if (q.inFlight === 0 && q.waiting.length === 0) this.queues.delete(id);
          else this.pump(id);
        });
    }
  }
}
