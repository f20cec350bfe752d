// Signing is the largest single cost of storing a record (~30k Ed25519 signatures/s on one core).
// With a spare core, signer threads take it off the main thread, which meanwhile normalises,
// hashes and batches the next group.
import { Worker } from "node:worker_threads";
import { Identity } from "./identity.js";

export class SignerPool {
  private readonly workers: Worker[] = [];
  private readonly pending = new Map<
    number,
    { resolve: (s: string[]) => void; reject: (e: unknown) => void }
  >();
  private nextId = 0;
  private turn = 0;

  constructor(identity: Identity, size: number) {
    const der = identity.privateKeyDer();
    for (let i = 0; i < size; i++) {
      const w = new Worker(new URL("./signer-worker.js", import.meta.url), { workerData: der });
      w.on("message", (m: { id: number; sigs: string[] }) => {
        const p = this.pending.get(m.id);
        this.pending.delete(m.id);
        p?.resolve(m.sigs);
        if (this.pending.size === 0) for (const x of this.workers) x.unref();
      });
      w.on("error", (e) => {
        for (const p of this.pending.values()) p.reject(e);
        this.pending.clear();
      });
      w.unref();
      this.workers.push(w);
    }
  }

  sign(data: string[]): Promise<string[]> {
    const id = this.nextId++;
    const w = this.workers[this.turn++ % this.workers.length];
    // Ref'd only while a batch is out, so an idle pool never keeps the process alive.
    w.ref();
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      w.postMessage({ id, data });
    });
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}
