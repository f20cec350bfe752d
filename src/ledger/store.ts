// LevelDB key layout, shared by the ledger, verify and export. One flat keyspace of string keys;
// prefixes keep each index a contiguous, ordered range:
//
//   r!<ts15>!<txID>              -> record JSON      primary copy, ordered by time (time index)
//   s!<source>\0<ts15>!<txID>    -> ""               time index per source (source has no \0)
//   k!<key>                      -> <ts15>!<txID>    by data key
//   x!<txID>                     -> <ts15>           by txID
//   b!<block>!<index10>          -> <ts15>!<txID>    records of a block in Merkle leaf order
//   B!<hash>                     -> block JSON
//   H!<height10>                 -> block hash       this node's branch, genesis first
//   I!<hash>                     -> reason           invalidated blocks
//   R!<key>                      -> record JSON      replicas signed by other nodes
//   X!<txID>                     -> <key>            replicas by txID (approval while the owner is down)
//   m!meta                       -> {network, nodeId, publicKey}
//   m!state                      -> "open" | "clean" (unclean shutdown detection)
//   m!records                    -> count of own records
import { Level } from "level";
import { join } from "node:path";

export type Db = Level<string, string>;

export const pad = (n: number, width: number): string => String(n).padStart(width, "0");
export const TS_WIDTH = 15;
export const primaryKey = (ts: number, txID: string): string => `${pad(ts, TS_WIDTH)}!${txID}`;
export const K = {
  rec: (pk: string) => `r!${pk}`,
  src: (source: string, pk: string) => `s!${source}\x00${pk}`,
  key: (key: string) => `k!${key}`,
  tx: (txID: string) => `x!${txID}`,
  blockRec: (hash: string, index: number) => `b!${hash}!${pad(index, 10)}`,
  block: (hash: string) => `B!${hash}`,
  height: (h: number) => `H!${pad(h, 10)}`,
  invalid: (hash: string) => `I!${hash}`,
  replica: (key: string) => `R!${key}`,
  replicaTx: (txID: string) => `X!${txID}`,
  meta: "m!meta",
  state: "m!state",
  records: "m!records",
};

export interface LedgerMeta {
  network: { name: string; adminPublicKey: string };
  nodeId: string;
  publicKey: string;
}

export function dbPath(dir: string): string {
  return join(dir, "ledger");
}

export async function openDb(dir: string, createIfMissing = true): Promise<Db> {
  const db = new Level<string, string>(dbPath(dir), { valueEncoding: "utf8", createIfMissing });
  try {
    await db.open();
  } catch (e) {
    const cause = (e as { cause?: { code?: string } }).cause;
    if (cause?.code === "LEVEL_LOCKED") {
      throw new Error(`data dir ${dir} is in use by a running node (LevelDB lock); stop the node first`, {
        cause: e,
      });
    }
    if (!createIfMissing) throw new Error(`no ledger in ${dir}: ${(e as Error).message}`, { cause: e });
    throw e;
  }
  return db;
}

/** Keys of a prefix range, `count` at a time, without loading the range into memory. */
export async function* rangeEntries(
  db: Db,
  opts: { gte: string; lte?: string; lt?: string; limit?: number; reverse?: boolean },
  keysOnly = false,
): AsyncGenerator<[string, string]> {
  const it = keysOnly ? null : db.iterator({ ...opts, limit: opts.limit ?? -1 });
  const kit = keysOnly ? db.keys({ ...opts, limit: opts.limit ?? -1 }) : null;
  try {
    for (;;) {
      if (it) {
        const batch = await it.nextv(1000);
        if (batch.length === 0) return;
        for (const e of batch) yield e as [string, string];
      } else {
        const batch = await kit!.nextv(1000);
        if (batch.length === 0) return;
        for (const k of batch) yield [k, ""];
      }
    }
  } finally {
    await (it ?? kit)!.close();
  }
}

/** Record documents (JSON) of one block in Merkle leaf order, a page at a time. */
export async function* blockRecords(db: Db, hash: string): AsyncGenerator<string> {
  const prefix = `b!${hash}!`;
  const it = db.values({ gte: prefix, lt: prefix + "~" });
  try {
    for (;;) {
      const pks = await it.nextv(1000);
      if (pks.length === 0) return;
      const docs = await db.getMany(pks.map((pk) => K.rec(pk)));
      for (const d of docs) {
        if (d === undefined) throw new Error(`a record listed in block ${hash} is missing`);
        yield d;
      }
    }
  } finally {
    await it.close();
  }
}
