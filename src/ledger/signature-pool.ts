// Ed25519 verification is most of the cost of verifying a ledger (~10k/s on one core), so verify
// spreads record signatures over worker threads while the main thread parses, hashes and checks
// structure.
import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";

export class SignaturePool {
  private readonly workers: Worker[] = [];
  private readonly pending = new Map<
    number,
    { resolve: (bad: number) => void; reject: (e: unknown) => void }
  >();
  private nextId = 0;
  private turn = 0;

  constructor(size = Math.min(4, Math.max(1, availableParallelism()))) {
    for (let i = 0; i < size; i++) {
      const w = new Worker(new URL("./signature-worker.js", import.meta.url));
      w.on("message", (m: { id: number; bad: number }) => {
        const p = this.pending.get(m.id);
        this.pending.delete(m.id);
        p?.resolve(m.bad);
      });
      w.on("error", (e) => {
        for (const p of this.pending.values()) p.reject(e);
        this.pending.clear();
      });
      // Stays ref'd (an unref'd worker lets the process exit while a batch is out); close() ends it.
      this.workers.push(w);
    }
  }

  /** Index of the first signature that does not verify, or -1. */
  check(keys: string[], data: string[], sigs: string[]): Promise<number> {
    const id = this.nextId++;
    const w = this.workers[this.turn++ % this.workers.length];
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      w.postMessage({ id, keys, data, sigs });
    });
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}
