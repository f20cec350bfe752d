// The one way src/ledger runs work on other threads: a Piscina over a worker file. Piscina replaces
// a thread that dies (a crash, an exit, a terminate) and fails only the tasks that thread held, where
// the hand-written pools before it kept the dead thread in rotation and hung every later task.
import { Piscina } from "piscina";

export type WorkerPool = Piscina;

/**
 * `threads` threads started at once (a caller that asks for a pool means to use it soon), unref'd
 * while idle by Piscina, so an idle pool never keeps the process alive.
 */
export function createWorkerPool(filename: URL, threads: number, onError?: (e: unknown) => void): WorkerPool {
  if (!Number.isSafeInteger(threads) || threads < 1) throw new RangeError("a worker pool needs threads >= 1");
  const pool = new Piscina({ filename: filename.href, minThreads: threads, maxThreads: threads });
  // A thread that fails while it holds no task is reported here; unheard, it would crash the
  // process. Its tasks, if any, fail on their own promises, and Piscina starts a replacement.
  pool.on("error", onError ?? (() => {}));
  return pool;
}

/**
 * A caller's choice of threads: a count (0: none, work inline) or a pool someone else owns and
 * shares. Returns the pool to use and whether closing it is ours to do.
 */
export function ownPool(
  choice: number | WorkerPool,
  create: (threads: number) => WorkerPool,
): { pool: WorkerPool | null; owned: boolean } {
  if (typeof choice !== "number") return { pool: choice, owned: false };
  return choice > 0 ? { pool: create(choice), owned: true } : { pool: null, owned: false };
}
