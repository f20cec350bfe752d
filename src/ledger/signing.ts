// Ed25519 is the largest single cost of storing a record (~30k signatures/s on one core) and of
// verifying a branch (~10k/s). With spare cores a crypto pool takes it off the main thread, which
// meanwhile normalises, hashes and batches the next group; without one (workers: 0, or many
// ledgers in one process) the same work runs inline. A pool that fails a task (its thread died)
// costs throughput, never a record: the batch is redone inline.
import { availableParallelism } from "node:os";
import type { Logger } from "../log.js";
import { errorText } from "../util/errors.js";
import { verify as verifyInline, type SignTask, type VerifyTask } from "./crypto-worker.js";
import type { Identity } from "./identity.js";
import { createWorkerPool, type WorkerPool } from "./worker-pool.js";

export type { WorkerPool } from "./worker-pool.js";

const CRYPTO_WORKER = new URL("./crypto-worker.js", import.meta.url);

/** A pool for signing and verifying; one can be shared by every ledger of a process. */
export function createCryptoPool(threads: number, log?: Logger): WorkerPool {
  return createWorkerPool(CRYPTO_WORKER, threads, (e) =>
    log?.warn("crypto thread failed", { err: errorText(e) }),
  );
}

/** Signer threads for a ledger by default: one when the machine has a spare core. */
export const defaultSignerThreads = (): number => (availableParallelism() > 1 ? 1 : 0);
/** Verifier threads for verify by default. */
export const defaultVerifierThreads = (): number => Math.min(4, Math.max(1, availableParallelism()));

/** Below this a batch is signed inline: a round trip to a thread costs more. */
const POOL_MIN_BATCH = 32;

async function withFallback<T>(
  pool: WorkerPool | null,
  task: object,
  name: "sign" | "verify",
  inline: () => T,
  log: Logger | undefined,
): Promise<T> {
  if (pool === null) return inline();
  try {
    return (await pool.run(task, { name })) as T;
  } catch (e) {
    log?.warn("crypto pool task failed, redone inline", { task: name, err: errorText(e) });
    return inline();
  }
}

export class Signer {
  private readonly identity: Identity;
  private readonly pool: WorkerPool | null;
  private readonly log: Logger | undefined;
  private der: Uint8Array | null = null;

  constructor(components: { identity: Identity; pool: WorkerPool | null; log?: Logger }) {
    this.identity = components.identity;
    this.pool = components.pool;
    this.log = components.log;
  }

  /** Signatures (hex) of each string, in order. */
  sign(data: string[]): Promise<string[]> {
    const inline = () => data.map((d) => this.identity.sign(d));
    if (this.pool === null || data.length < POOL_MIN_BATCH) return Promise.resolve(inline());
    this.der ??= this.identity.privateKeyDer();
    const task: SignTask = { key: this.der, data };
    return withFallback(this.pool, task, "sign", inline, this.log);
  }
}

/** Index of the first signature that does not verify, or -1. */
export function firstBadSignature(pool: WorkerPool | null, task: VerifyTask, log?: Logger): Promise<number> {
  return withFallback(pool, task, "verify", () => verifyInline(task), log);
}
