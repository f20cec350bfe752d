// Reads of this node's own records and branch: by data key, by txID, by time range (optionally of
// one source, streamed in pages), and the blocks of the branch.
import { InputError } from "../util/errors.js";
import type { Block } from "./block.js";
import { PagedIterator } from "./paged-iterator.js";
import type { RecordDoc } from "./record.js";
import { normaliseTimestamp } from "./timestamp.js";
import {
  heightKey,
  MAX_TS,
  blockRange,
  primaryKey,
  primaryKeyOfSourceKey,
  rangeEntries,
  txIDOf,
  rangeKeys,
  sourceRange,
  timeRange,
  type Store,
} from "./store.js";

export interface QueryOptions {
  from: number | string;
  to: number | string;
  source?: string;
  limit?: number;
}

interface QueryPlan {
  from: number;
  to: number;
  limit: number;
  source?: string;
}

/** A LevelDB key or value iterator, as the query pages use it. */
type PageSource = { nextv(n: number): Promise<string[]>; close(): Promise<void> };

const parse = <T>(json: string): T => JSON.parse(json) as T;

export class LedgerQueries {
  private readonly store: Store;

  constructor(components: { store: Store }) {
    this.store = components.store;
  }

  async getByKey(key: string): Promise<RecordDoc | undefined> {
    if (typeof key !== "string") return undefined;
    const pk = await this.store.byKey.get(key);
    return pk === undefined ? undefined : this.record(pk);
  }

  async getByTxID(txID: string): Promise<RecordDoc | undefined> {
    if (typeof txID !== "string") return undefined;
    const ts = await this.store.byTxID.get(txID);
    return ts === undefined ? undefined : this.record(primaryKey(Number(ts), txID));
  }

  private async record(pk: string): Promise<RecordDoc | undefined> {
    const doc = await this.store.records.get(pk);
    return doc === undefined ? undefined : parse<RecordDoc>(doc);
  }

  /** Records with from <= timestamp <= to, oldest first, optionally of one source; streamed. */
  query(q: QueryOptions): AsyncIterable<RecordDoc> {
    let plan: QueryPlan | null;
    try {
      plan = queryPlan(q);
    } catch (e) {
      // Bad queries fail on the first next(), like any other error of the stream.
      return new PagedIterator<RecordDoc>(() => Promise.reject(e));
    }
    if (plan === null) return new PagedIterator<RecordDoc>(async () => []);
    const limit = plan.limit === Infinity ? -1 : plan.limit;
    const { records, bySource } = this.store;
    // Iterators are opened on the first next(), so a query nobody iterates holds none.
    let it: PageSource | null = null;
    const close = async () => it?.close();
    if (plan.source === undefined) {
      const range = { ...timeRange(plan.from, plan.to), limit };
      return new PagedIterator(
        async () => (await (it ??= records.values(range)).nextv(1000)).map(parse<RecordDoc>),
        close,
      );
    }
    // The per-source index holds keys only; fetch the documents a page at a time.
    const source = plan.source;
    const range = { ...sourceRange(source, plan.from, plan.to), limit };
    let left = plan.limit;
    return new PagedIterator(async () => {
      for (;;) {
        const keys = await (it ??= bySource.keys(range)).nextv(500);
        if (keys.length === 0 || left <= 0) return [];
        const docs = await records.getMany(keys.map((k) => primaryKeyOfSourceKey(source, k)));
        const page = docs.filter((d): d is string => d !== undefined).map(parse<RecordDoc>);
        left -= page.length;
        if (page.length > 0) return page;
      }
    }, close);
  }

  /** This node's blocks in height order, from `fromHeight` (genesis is 0) by the height index. */
  async *blocks(fromHeight = 0): AsyncIterable<Block> {
    for await (const [, hash] of rangeEntries(this.store.heights, { gte: heightKey(fromHeight) })) {
      const b = await this.store.block(hash);
      if (b !== undefined) yield parse<Block>(b);
    }
  }

  /** A block of this node's branch by its hash (only its own blocks are stored). */
  async block(hash: string): Promise<Block | undefined> {
    const b = await this.store.block(hash);
    return b === undefined ? undefined : parse<Block>(b);
  }

  /** The block of this node's branch at `height`, if the branch is that long. */
  async blockAt(height: number): Promise<Block | undefined> {
    const hash = await this.store.heights.get(heightKey(height));
    return hash === undefined ? undefined : this.block(hash);
  }

  /** txIDs of one of this node's blocks, in Merkle leaf order. */
  async leaves(hash: string): Promise<string[]> {
    const out: string[] = [];
    for await (const [, pk] of rangeEntries(this.store.blockRecords, blockRange(hash))) out.push(txIDOf(pk));
    return out;
  }

  async isInvalid(hash: string): Promise<string | undefined> {
    return this.store.invalid.get(hash);
  }

  /** Data keys of this node's own records. */
  ownKeys(): AsyncIterable<string> {
    return rangeKeys(this.store.byKey);
  }

  /**
   * Own records of the newest blocks, back to the first block mined before `since` (ms): the
   * records a process killed at the head of its branch may not have finished replicating.
   */
  async recentOwnRecords(since: number, max: number): Promise<RecordDoc[]> {
    const out: RecordDoc[] = [];
    for await (const hash of this.store.heights.values({ reverse: true })) {
      const b = await this.block(hash);
      if (b === undefined || b.height === 0) break;
      for await (const pk of this.store.blockRecords.values(blockRange(hash))) {
        const doc = await this.record(pk);
        if (doc !== undefined) out.push(doc);
        if (out.length >= max) return out;
      }
      if (b.timestamp < since) break;
    }
    return out;
  }

  /** Key and txID of every own record, from the key index alone (no record is read). */
  async *ownEntries(): AsyncGenerator<{ key: string; txID: string }> {
    for await (const [key, pk] of rangeEntries(this.store.byKey)) yield { key, txID: txIDOf(pk) };
  }
}

function queryPlan(q: QueryOptions): QueryPlan | null {
  if (typeof q !== "object" || q === null) throw new InputError("bad_query", "query must be an object");
  const from = normaliseTimestamp(q.from, Number.MAX_SAFE_INTEGER);
  // "Up to the end of time" is a fair request: clamp to the widest key the index holds.
  const to = Math.min(normaliseTimestamp(q.to, Number.MAX_SAFE_INTEGER), MAX_TS);
  const limit = q.limit ?? Infinity;
  if (q.limit !== undefined && (!Number.isSafeInteger(q.limit) || q.limit < 0)) {
    throw new InputError("bad_query", "limit must be a non-negative integer");
  }
  // eslint-disable-next-line no-control-regex
  if (q.source !== undefined && (typeof q.source !== "string" || /[\x00-\x1f]/.test(q.source))) {
    throw new InputError("bad_query", "source must be a string without control characters");
  }
  if (from > to || limit === 0) return null;
  return { from, to, limit, source: q.source };
}
