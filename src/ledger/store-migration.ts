// Format 1 -> 2: a store written before the keyspaces became sublevels held every index in one flat
// keyspace, told apart by a one-character prefix. Those keys all start with a letter, and every
// sublevel key starts with "!", so the old keys are exactly the range from '"' up.
//
// Crash safety: each batch moves its keys (put under the sublevel, delete the old key) in one
// atomic LevelDB write, and the format flag is written only once no old key is left. A migration
// cut short leaves every key in exactly one of the two layouts; opening again (format still 1)
// carries on with the keys not yet moved.
import type { Space, Store } from "./store.js";
import { FORMAT, META } from "./store.js";

/** Keyspace of each format-1 prefix. */
const FORMAT1: Record<string, (s: Store) => Space> = {
  r: (s) => s.records,
  s: (s) => s.bySource,
  k: (s) => s.byKey,
  x: (s) => s.byTxID,
  b: (s) => s.blockRecords,
  B: (s) => s.blocks,
  H: (s) => s.heights,
  I: (s) => s.invalid,
  R: (s) => s.replicas,
  X: (s) => s.replicaTxIDs,
  m: (s) => s.meta,
};
/** Every format-1 key sorts at or after this; every sublevel key before it. */
const FORMAT1_FROM = '"';

export interface MigrationOptions {
  /** Keys moved per atomic batch. */
  batchSize?: number;
  /** Called after each batch is durable (tests use it to cut a migration short). */
  afterBatch?: (moved: number) => void;
}

/** Moves every format-1 key into its sublevel, then marks the store as FORMAT; returns keys moved. */
export async function migrateFormat1(store: Store, opts: MigrationOptions = {}): Promise<number> {
  const size = opts.batchSize ?? 1000;
  let moved = 0;
  const it = store.db.iterator({ gte: FORMAT1_FROM });
  try {
    for (;;) {
      const page = await it.nextv(size);
      if (page.length === 0) break;
      const batch = store.db.batch();
      for (const [key, value] of page) {
        const space = key[1] === "!" ? FORMAT1[key[0]] : undefined;
        if (space === undefined) throw new Error(`store migration: unknown key ${JSON.stringify(key)}`);
        batch.put(key.slice(2), value, { sublevel: space(store) }).del(key);
      }
      await batch.write({ sync: true });
      moved += page.length;
      opts.afterBatch?.(moved);
    }
  } finally {
    await it.close();
  }
  await store.putMeta(META.format, String(FORMAT));
  return moved;
}
