// The LevelDB of one node, shared by the ledger, verify and export. Every keyspace is a sublevel
// declared once, in Store below; keys and values are utf8 strings (record and block documents stay
// JSON text, so export can copy them out byte for byte and queries parse them only when asked).
//
// Composite keys (a timestamp and a txID, a block and an index) are built by the helpers in this
// file, so that their order is the order the indexes need: timestamps and numbers are zero-padded.
//
// Format 1 was one flat keyspace with one-character prefixes (`r!`, `B!`...); format 2 is the
// sublevels below. store-migration.ts moves a format-1 store over once, when it is opened.
import type { AbstractChainedBatch, AbstractSublevel } from "abstract-level";
import { Level } from "level";
import { join } from "node:path";
import { migrateFormat1 } from "./store-migration.js";

export type Db = Level<string, string>;
export type Space = AbstractSublevel<Db, string | Buffer | Uint8Array, string, string>;

/** The store format this code writes; `meta` key "format". */
export const FORMAT = 2;

export const pad = (n: number, width: number): string => String(n).padStart(width, "0");
export const TS_WIDTH = 15;
/** The widest timestamp a primary key can hold. */
export const MAX_TS = 10 ** TS_WIDTH - 1;
/** `<ts15>!<txID>`: a record's place in time order, the key of `records`. */
export const primaryKey = (ts: number, txID: string): string => `${pad(ts, TS_WIDTH)}!${txID}`;
export const txIDOf = (pk: string): string => pk.slice(TS_WIDTH + 1);
export const timeKey = (ts: number): string => pad(ts, TS_WIDTH);
export const heightKey = (height: number): string => pad(height, 10);
export const sourceKey = (source: string, pk: string): string => `${source}\x00${pk}`;
export const blockRecordKey = (hash: string, index: number): string => `${hash}!${pad(index, 10)}`;

/** Primary keys of the records with from <= timestamp <= to. */
export function timeRange(from: number, to: number): { gte: string; lte: string } {
  return { gte: timeKey(from) + "!", lte: timeKey(to) + "!~" };
}

/** The same range inside the per-source index. */
export function sourceRange(source: string, from: number, to: number): { gte: string; lte: string } {
  const r = timeRange(from, to);
  return { gte: sourceKey(source, r.gte), lte: sourceKey(source, r.lte) };
}

export const primaryKeyOfSourceKey = (source: string, key: string): string => key.slice(source.length + 1);

/** The block-records entries of one block. */
export const blockRange = (hash: string): { gt: string; lt: string } => ({ gt: `${hash}!`, lt: `${hash}!~` });

/** Keys in the `meta` keyspace. */
export const META = {
  /** {network, nodeId, publicKey}: whose ledger this is. */
  ledger: "meta",
  /** "open" while a ledger has the store open, "clean" after close: unclean shutdown detection. */
  state: "state",
  /** Count of this node's own records. */
  records: "records",
  /** Store format (FORMAT); absent in a format-1 store or one that was never initialised. */
  format: "format",
} as const;

export interface LedgerMeta {
  network: { name: string; adminPublicKey: string };
  nodeId: string;
  publicKey: string;
}

/**
 * A chained batch across keyspaces: classic-level copies each put straight into a native
 * WriteBatch, about half the main-thread cost per entry of an array batch. Keys take their
 * sublevel's prefix from the sublevel itself (prefixKey) and go into the root batch as they are:
 * the chained batch's own `sublevel` option clones and re-checks every put, which cost a quarter
 * of the group-commit throughput.
 */
export class StoreBatch {
  private readonly batch: AbstractChainedBatch<Db, string, string>;

  constructor(db: Db) {
    this.batch = db.batch();
  }

  put(space: Space, key: string, value: string): this {
    this.batch.put(space.prefixKey(key, "utf8") as string, value);
    return this;
  }

  /** One own record: its primary copy and its four indexes. */
  putOwnRecord(store: Store, doc: OwnRecordKeys, json: string): this {
    const pk = primaryKey(doc.timestamp, doc.txID);
    return this.put(store.records, pk, json)
      .put(store.bySource, sourceKey(doc.source, pk), "")
      .put(store.byKey, doc.key, pk)
      .put(store.byTxID, doc.txID, timeKey(doc.timestamp))
      .put(store.blockRecords, blockRecordKey(doc.block, doc.index), pk);
  }

  write(opts: { sync: boolean }): Promise<void> {
    return this.batch.write(opts);
  }
}

/** What the indexes of an own record are made of. */
export interface OwnRecordKeys {
  txID: string;
  key: string;
  block: string;
  index: number;
  source: string;
  timestamp: number;
}

export class Store {
  readonly db: Db;
  /** Record JSON by primary key: the primary copy of this node's records, in time order. */
  readonly records: Space;
  /** sourceKey(source, pk) -> "": the time index per source (a source holds no \0). */
  readonly bySource: Space;
  /** Data key -> primary key: idempotent puts, and the keys this node owns (handover). */
  readonly byKey: Space;
  /** txID -> timeKey: lookups by txID without scanning time. */
  readonly byTxID: Space;
  /** blockRecordKey(hash, index) -> primary key: a block's records in Merkle leaf order. */
  readonly blockRecords: Space;
  /** Block hash -> block JSON, for this node's own branch only. */
  readonly blocks: Space;
  /** heightKey -> block hash: this node's branch, genesis first; the last entry is the head. */
  readonly heights: Space;
  /** Block hash -> reason it was retired (invalid condition or unclean shutdown). */
  readonly invalid: Space;
  /** Data key -> record JSON signed by another node, held here as a replica. */
  readonly replicas: Space;
  /** txID -> data key of a replica: approving a transaction while its owner is down. */
  readonly replicaTxIDs: Space;
  /** Primary key -> record JSON of an own record withdrawn (withdrawal.ts): out of every index, still in its block. */
  readonly withdrawn: Space;
  /** txID -> the signed withdrawal notice of that record. */
  readonly withdrawals: Space;
  /** See META. */
  readonly meta: Space;

  constructor(db: Db) {
    this.db = db;
    const space = (name: string): Space =>
      db.sublevel<string, string>(name, { keyEncoding: "utf8", valueEncoding: "utf8" });
    this.records = space("records");
    this.bySource = space("by-source");
    this.byKey = space("by-key");
    this.byTxID = space("by-txid");
    this.blockRecords = space("block-records");
    this.blocks = space("blocks");
    this.heights = space("heights");
    this.invalid = space("invalid");
    this.replicas = space("replicas");
    this.replicaTxIDs = space("replica-txids");
    this.withdrawn = space("withdrawn");
    this.withdrawals = space("withdrawals");
    this.meta = space("meta");
  }

  batch(): StoreBatch {
    return new StoreBatch(this.db);
  }

  /**
   * Reads keys of several keyspaces in one getMany, where a getMany per keyspace would cost a
   * thread-pool round trip each (the put path pays for every read it makes).
   */
  getAcross(reads: [Space, string][]): Promise<(string | undefined)[]> {
    return this.db.getMany(reads.map(([space, key]) => space.prefixKey(key, "utf8") as string));
  }

  /** Writes a META key, fsynced: these mark states (format, clean shutdown) that must survive power loss. */
  async putMeta(key: (typeof META)[keyof typeof META], value: string): Promise<void> {
    await this.db.batch([{ type: "put", sublevel: this.meta, key, value }], { sync: true });
  }

  /** The hash of the newest block of the branch, if any. */
  async headHash(): Promise<string | undefined> {
    const [hash] = await this.heights.values({ reverse: true, limit: 1 }).all();
    return hash;
  }

  async block(hash: string): Promise<string | undefined> {
    return this.blocks.get(hash);
  }

  close(): Promise<void> {
    return this.db.close();
  }
}

export function dbPath(dir: string): string {
  return join(dir, "ledger");
}

/**
 * Opens the node's LevelDB and brings it to FORMAT. A format-1 store is migrated here, whoever
 * opens it (the ledger, verify, export): every reader then knows one layout.
 */
export async function openStore(dir: string, createIfMissing = true): Promise<Store> {
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
  const store = new Store(db);
  try {
    const format = Number((await store.meta.get(META.format)) ?? 1);
    if (format > FORMAT)
      throw new Error(`data dir ${dir} has store format ${format}; this code reads ${FORMAT}`);
    if (format < FORMAT) await migrateFormat1(store);
  } catch (e) {
    await db.close();
    throw e;
  }
  return store;
}

/** A LevelDB iterator's items, a page at a time, so a range is never loaded into memory whole. */
async function* paged<T>(it: {
  nextv(n: number): Promise<T[]>;
  close(): Promise<void>;
}): AsyncGenerator<T[]> {
  try {
    for (;;) {
      const page = await it.nextv(1000);
      if (page.length === 0) return;
      yield page;
    }
  } finally {
    await it.close();
  }
}

/** Entries of a keyspace range. */
export async function* rangeEntries(
  space: Space,
  opts: { gt?: string; gte?: string; lte?: string; lt?: string; limit?: number; reverse?: boolean } = {},
): AsyncGenerator<[string, string]> {
  for await (const page of paged(space.iterator({ ...opts, limit: opts.limit ?? -1 }))) yield* page;
}

/** Keys of a keyspace. */
export async function* rangeKeys(space: Space): AsyncGenerator<string> {
  for await (const page of paged(space.keys())) yield* page;
}

/** Record documents (JSON) of one block in Merkle leaf order. */
export async function* blockRecords(store: Store, hash: string): AsyncGenerator<string> {
  for await (const pks of paged(store.blockRecords.values(blockRange(hash)))) {
    const docs = await store.records.getMany(pks);
    for (let i = 0; i < pks.length; i++) {
      // A withdrawn record left every index but stays part of its block.
      const d = docs[i] ?? (await store.withdrawn.get(pks[i]!));
      if (d === undefined) throw new Error(`a record listed in block ${hash} is missing`);
      yield d;
    }
  }
}
