// The Virtual Block ledger of one node (paper sections 3-5): its own branch of blocks from the
// network's genesis, a single valid block (MRU, Listing 3) taking records in real time, and a timed
// miner whose next block seals the records of the block before it.
//
// Durability policy: a put is acknowledged after the LevelDB batch holding it has been written
// (LevelDB appends it to its log with write(2)). That survives the death of the process (kill -9,
// crash) because the data is in the OS page cache; it does not survive a kernel crash or power loss
// unless `sync: true` is passed, which fsyncs every group commit (~10x fewer batches per second on
// ordinary disks). Group commit keeps the per-record cost low either way: puts that arrive while a
// batch is being written go out together in the next one.
import { EventEmitter } from "node:events";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { AbstractBatchOperation, AbstractChainedBatch } from "abstract-level";
import { InputError, errorText } from "../util/errors.js";
import { doubleSha256Hex } from "../util/hash.js";
import { Logger, silentLogger } from "../log.js";
import { Block, BlockHeader, makeBlock } from "./block.js";
import { clampReliability, targetFor, tierFor } from "./difficulty.js";
import { checkDescriptor, genesisBlock, NetworkDescriptor } from "./genesis.js";
import type { LedgerEvents } from "./events.js";
import { Identity } from "./identity.js";
import { MerkleAccumulator } from "./merkle.js";
import { Miner, HeaderTemplate } from "./miner.js";
import { Signer, createCryptoPool, defaultSignerThreads } from "./signing.js";
import { ownPool, type WorkerPool } from "./worker-pool.js";
import { PagedIterator } from "./paged-iterator.js";
import {
  unsignedRecord,
  Chunk,
  NormalChunk,
  normaliseChunk,
  normaliseTimestamp,
  RecordDoc,
  verifyRecord,
} from "./record.js";
import { Db, K, LedgerMeta, TS_WIDTH, openDb, pad, primaryKey, rangeEntries } from "./store.js";

export type { Chunk, RecordDoc } from "./record.js";
export type { Block } from "./block.js";
export type { LedgerEvents } from "./events.js";
export type { WorkerPool } from "./worker-pool.js";
export { createCryptoPool } from "./signing.js";

/**
 * Default hashing rate: ~0.3% of a core, so a node whose reliability dropped still mines its next
 * block within a second (tier 2, 256 hashes) or a few (tier 3); tier 4 takes about a minute.
 */
export const DEFAULT_HASHES_PER_SECOND = 1000;
/** Default spacing of blocks: at the easiest tier, at most one block a second. */
export const DEFAULT_BLOCK_INTERVAL_MS = 1000;
/** Largest group commit; bigger bursts are split so one batch never holds the loop for long. */
const MAX_GROUP = 2000;
/** Groups being signed or written at once: enough to keep a signer thread and LevelDB busy. */
const MAX_IN_FLIGHT = 2;

export interface LedgerOptions {
  dir: string;
  identity: Identity;
  network: NetworkDescriptor;
  hashesPerSecond?: number;
  /** Least time between two blocks; default DEFAULT_BLOCK_INTERVAL_MS. */
  blockIntervalMs?: number;
  /** Reliability probability in [0, 1] for difficulty control; default 1.0 (a mains-powered laptop). */
  reliability?: () => number;
  log?: Logger;
  /** fsync every group commit: survives power loss, at a large cost in throughput. */
  sync?: boolean;
  /** Start the miner (default true). */
  mine?: boolean;
  /**
   * Threads that sign group commits: a count, 0 to sign on the main thread (many ledgers in one
   * process), or a pool from createCryptoPool shared by several ledgers (not closed by this one).
   * Default 1 when the machine has a spare core, else 0.
   */
  workers?: number | WorkerPool;
}

export interface QueryOptions {
  from: number | string;
  to: number | string;
  source?: string;
  limit?: number;
}

export interface LedgerInfo {
  height: number;
  head: string;
  validBlock: string | null;
  target: string;
  tier: number;
  reliability: number;
  recordsSealed: number;
  recordsUnsealed: number;
  records: number;
}

interface Pending {
  c: NormalChunk;
  key: string;
  resolve: (d: RecordDoc) => void;
  reject: (e: unknown) => void;
  onSigned?: (d: RecordDoc) => void;
}

export interface PutOptions {
  /**
   * Called with the signed record as soon as it exists, before it is durable, so replication can
   * overlap the local write. Not called when the chunk was already stored (the put resolves with
   * the existing record at once).
   */
  onSigned?: (doc: RecordDoc) => void;
}

type Op = AbstractBatchOperation<Db, string, string>;
/** A LevelDB key or value iterator, as the query pages use it. */
type PageSource = { nextv(n: number): Promise<string[]>; close(): Promise<void> };
type Batch = AbstractChainedBatch<Db, string, string>;

export class Ledger extends EventEmitter<LedgerEvents> {
  readonly dir: string;
  readonly identity: Identity;
  readonly network: NetworkDescriptor;
  private readonly db: Db;
  private readonly log: Logger;
  private readonly reliabilityFn: () => number;
  private readonly sync: boolean;
  private readonly miner: Miner;
  private headBlock: Block;
  private valid: Block | null;
  // Leaves of the head block: the next block's sealedRoot.
  private headAcc = new MerkleAccumulator();
  private recordCount = 0;
  private readonly inflight = new Map<string, Promise<RecordDoc>>();
  private incoming: Pending[] = [];
  // Records that arrived while no valid block existed: recorded once one is mined, never dropped.
  private waiting: Pending[] = [];
  private flushing = false;
  private writeChain: Promise<void> = Promise.resolve();
  private closed = false;
  private readonly signer: Signer;
  private readonly closePool: () => Promise<void>;

  private constructor(
    opts: LedgerOptions,
    db: Db,
    head: Block,
    valid: Block | null,
    acc: MerkleAccumulator,
    count: number,
  ) {
    super();
    this.dir = opts.dir;
    this.identity = opts.identity;
    this.network = opts.network;
    this.db = db;
    this.log = opts.log ?? silentLogger;
    this.reliabilityFn = opts.reliability ?? (() => 1);
    this.sync = opts.sync ?? false;
    this.headBlock = head;
    this.valid = valid;
    this.headAcc = acc;
    this.recordCount = count;
    const { pool, owned } = ownPool(opts.workers ?? defaultSignerThreads(), (n) =>
      createCryptoPool(n, this.log),
    );
    this.closePool = async () => (owned ? pool?.destroy() : undefined);
    this.signer = new Signer({ identity: opts.identity, pool, log: this.log });
    this.miner = new Miner({
      hashesPerSecond: opts.hashesPerSecond ?? DEFAULT_HASHES_PER_SECOND,
      minIntervalMs: opts.blockIntervalMs ?? DEFAULT_BLOCK_INTERVAL_MS,
      template: () => this.template(),
      found: (h, hash) => this.blockFound(h, hash),
    });
  }

  static async open(opts: LedgerOptions): Promise<Ledger> {
    checkDescriptor(opts.network);
    await mkdir(opts.dir, { recursive: true });
    const db = await openDb(opts.dir);
    try {
      const meta: LedgerMeta = {
        network: { name: opts.network.name, adminPublicKey: opts.network.adminPublicKey },
        nodeId: opts.identity.id,
        publicKey: opts.identity.publicKeyHex,
      };
      const stored = await db.get(K.meta);
      if (stored !== undefined) {
        const m = JSON.parse(stored) as LedgerMeta;
        if (
          m.network.name !== meta.network.name ||
          m.network.adminPublicKey !== meta.network.adminPublicKey
        ) {
          throw new InputError(
            "wrong_network",
            `data dir ${opts.dir} belongs to network "${m.network.name}"`,
          );
        }
        if (m.publicKey !== meta.publicKey) {
          throw new InputError("wrong_identity", `data dir ${opts.dir} belongs to node ${m.nodeId}`);
        }
      } else {
        const g = genesisBlock(opts.network);
        await db.batch([
          { type: "put", key: K.meta, value: JSON.stringify(meta) },
          { type: "put", key: K.block(g.hash), value: JSON.stringify(g) },
          { type: "put", key: K.height(0), value: g.hash },
          { type: "put", key: K.records, value: "0" },
          { type: "put", key: K.state, value: "clean" },
        ]);
        // A copy outside LevelDB for people and tools (the authoritative one is m!meta).
        await writeFile(join(opts.dir, "ledger.json"), JSON.stringify(meta, null, 2) + "\n");
      }
      let headHash = "";
      for await (const [, v] of rangeEntries(db, { gte: "H!", lt: "H!~", reverse: true, limit: 1 }))
        headHash = v;
      const head = JSON.parse((await db.get(K.block(headHash)))!) as Block;
      const acc = new MerkleAccumulator();
      for await (const [, pk] of rangeEntries(db, { gte: `b!${head.hash}!`, lt: `b!${head.hash}!~` })) {
        acc.add(pk.slice(TS_WIDTH + 1));
      }
      const count = Number((await db.get(K.records)) ?? "0");
      const state = await db.get(K.state);
      const invalid = (await db.get(K.invalid(head.hash))) !== undefined;
      let valid: Block | null = head.height >= 1 && !invalid ? head : null;
      const ops: Op[] = [{ type: "put", key: K.state, value: "open" }];
      if (state !== "clean" && valid) {
        // The process died while this block was in use (section 4.1: abnormal termination).
        ops.push({ type: "put", key: K.invalid(head.hash), value: "unclean shutdown" });
        valid = null;
      }
      await db.batch(ops, { sync: opts.sync ?? false });
      const ledger = new Ledger(opts, db, head, valid, acc, count);
      if (state !== "clean")
        ledger.log.warn("unclean shutdown detected", { height: head.height, block: head.hash });
      if (opts.mine !== false) ledger.miner.start();
      return ledger;
    } catch (e) {
      await db.close();
      throw e;
    }
  }

  // ---- records -------------------------------------------------------------------------------

  put(chunk: Chunk, opts: PutOptions = {}): Promise<RecordDoc> {
    if (this.closed) return Promise.reject(new Error("ledger is closed"));
    let c: NormalChunk;
    try {
      c = normaliseChunk(chunk);
    } catch (e) {
      return Promise.reject(e);
    }
    const key = doubleSha256Hex(c.canonical);
    const same = this.inflight.get(key);
    if (same) return same;
    const p = new Promise<RecordDoc>((resolve, reject) => {
      this.incoming.push({ c, key, resolve, reject, onSigned: opts.onSigned });
    });
    this.inflight.set(key, p);
    const done = () => this.inflight.delete(key);
    p.then(done, done);
    this.kickFlush();
    return p;
  }

  /** All or nothing on input errors: one bad chunk rejects the call before anything is stored. */
  putMany(chunks: Chunk[]): Promise<RecordDoc[]> {
    if (!Array.isArray(chunks)) return Promise.reject(new InputError("bad_chunk", "chunks must be an array"));
    try {
      chunks.forEach((c) => normaliseChunk(c));
    } catch (e) {
      return Promise.reject(e);
    }
    return Promise.all(chunks.map((c) => this.put(c)));
  }

  private kickFlush(): void {
    if (this.flushing) return;
    this.flushing = true;
    // Let the current tick's puts join the group.
    setImmediate(() => {
      this.flushLoop().catch((e) => this.log.error("flush loop failed", { err: errorText(e) }));
    });
  }

  private async flushLoop(): Promise<void> {
    // Pipelined group commit: the next group is signed while the previous batch is being written,
    // with at most MAX_IN_FLIGHT batches in flight so groups still grow under load.
    const writing: Promise<void>[] = [];
    try {
      while (this.incoming.length > 0) {
        const group = this.incoming.splice(0, MAX_GROUP);
        let written: Promise<void>;
        try {
          written = (await this.commitGroup(group)).written;
        } catch (e) {
          written = Promise.reject(e);
        }
        writing.push(
          written.catch(async (e) => {
            for (const p of group) p.reject(e);
            this.log.error("group commit failed", { err: errorText(e) });
            // The block in use may now seal records that never reached the disk.
            await this.invalidate(`store write failed: ${String(e)}`).catch(() => {});
          }),
        );
        if (writing.length >= MAX_IN_FLIGHT) await writing.shift();
        if (this.incoming.length === 0 && writing.length > 0) await writing.shift();
      }
      await Promise.all(writing);
    } finally {
      this.flushing = false;
    }
    // Puts that arrived during the last await.
    if (this.incoming.length > 0) this.kickFlush();
  }

  /** Assigns and signs a group; resolves once its batch is queued, to a promise of it being written. */
  private async commitGroup(group: Pending[]): Promise<{ written: Promise<void> }> {
    // Idempotence: a chunk already stored answers with its existing record, and so does one this
    // node holds as a replica of another node's record (it took the key over after a failure or
    // a join): one read covers both, as the put path pays for every read it makes.
    const n = group.length;
    const existing = await this.db.getMany([
      ...group.map((p) => K.key(p.key)),
      ...group.map((p) => K.replica(p.key)),
    ]);
    const fresh: Pending[] = [];
    const known: [Pending, string][] = [];
    group.forEach((p, i) => {
      if (existing[i] !== undefined) known.push([p, existing[i]!]);
      else if (existing[n + i] !== undefined) p.resolve(JSON.parse(existing[n + i]!) as RecordDoc);
      else fresh.push(p);
    });
    if (known.length > 0) {
      const docs = await this.db.getMany(known.map(([, pk]) => K.rec(pk)));
      known.forEach(([p], i) => p.resolve(JSON.parse(docs[i]!) as RecordDoc));
    }
    if (fresh.length === 0) return { written: Promise.resolve() };
    const block = this.valid;
    if (block === null) {
      this.waiting.push(...fresh);
      this.safeEmit("queued", { count: this.waiting.length });
      this.miner.wake();
      return { written: Promise.resolve() };
    }
    // From here to enqueueWrite is synchronous: the miner cannot switch blocks in between, and the
    // batch takes its place in the write order now (even if it is signed later), so every leaf a
    // block seals is written before that block.
    const docs: RecordDoc[] = [];
    const toSign: string[] = [];
    const wasEmpty = this.headAcc.count === 0;
    for (const p of fresh) {
      const { doc, signed } = unsignedRecord(p.c, p.key, block, this.headAcc.count, this.identity);
      this.headAcc.add(doc.txID);
      docs.push(doc);
      toSign.push(signed);
    }
    this.recordCount += docs.length;
    const count = this.recordCount;
    if (wasEmpty) this.miner.wake();
    const fill = (sigs: string[]): Batch => {
      // A chained batch: classic-level copies each put straight into a native WriteBatch, about
      // half the main-thread cost per entry of an array batch (which clones and re-validates).
      const batch = this.db.batch();
      docs.forEach((doc, i) => {
        doc.signature = sigs[i];
        const onSigned = fresh[i].onSigned;
        if (onSigned) this.safeCall(onSigned, doc);
        const pk = primaryKey(doc.timestamp, doc.txID);
        batch
          .put(K.rec(pk), JSON.stringify(doc))
          .put(K.src(doc.source, pk), "")
          .put(K.key(doc.key), pk)
          .put(K.tx(doc.txID), pad(doc.timestamp, TS_WIDTH))
          .put(K.blockRec(block.hash, doc.index), pk);
      });
      return batch.put(K.records, String(count));
    };
    const written = this.enqueueWrite(this.signer.sign(toSign).then(fill)).then(() => {
      fresh.forEach((p, i) => p.resolve(docs[i]));
      for (const d of docs) this.safeEmit("transaction", d);
    });
    return { written };
  }

  private safeCall(f: (d: RecordDoc) => void, doc: RecordDoc): void {
    try {
      f(doc);
    } catch (e) {
      this.log.error("onSigned threw", { err: errorText(e) });
    }
  }

  // A throwing listener must not turn a stored record into a failed put.
  private safeEmit<K extends keyof LedgerEvents>(event: K, ...args: LedgerEvents[K]): void {
    try {
      // @types/node's emit cannot see that K's payload is LedgerEvents[K] while K is generic.
      (this.emit as (e: K, ...a: LedgerEvents[K]) => boolean)(event, ...args);
    } catch (e) {
      this.log.error("event listener threw", { event, err: errorText(e) });
    }
  }

  // One writer: batches reach LevelDB in the order they were queued, so a block is never on disk
  // before the records it seals.
  private enqueueWrite(ops: Op[] | Promise<Batch>): Promise<void> {
    const p = this.writeChain.then(async () =>
      Array.isArray(ops) ? this.db.batch(ops, { sync: this.sync }) : (await ops).write({ sync: this.sync }),
    );
    this.writeChain = p.catch(() => {});
    return p;
  }

  async getByKey(key: string): Promise<RecordDoc | undefined> {
    if (typeof key !== "string") return undefined;
    const pk = await this.db.get(K.key(key));
    if (pk === undefined) return undefined;
    const doc = await this.db.get(K.rec(pk));
    return doc === undefined ? undefined : (JSON.parse(doc) as RecordDoc);
  }

  async getByTxID(txID: string): Promise<RecordDoc | undefined> {
    if (typeof txID !== "string") return undefined;
    const ts = await this.db.get(K.tx(txID));
    if (ts === undefined) return undefined;
    const doc = await this.db.get(K.rec(`${ts}!${txID}`));
    return doc === undefined ? undefined : (JSON.parse(doc) as RecordDoc);
  }

  /** Records with from <= timestamp <= to, oldest first, optionally of one source; streamed. */
  query(q: QueryOptions): AsyncIterable<RecordDoc> {
    let plan: { lo: string; hi: string; limit: number; source?: string } | null;
    try {
      plan = this.queryPlan(q);
    } catch (e) {
      // Bad queries fail on the first next(), like any other error of the stream.
      return new PagedIterator<RecordDoc>(() => Promise.reject(e));
    }
    if (plan === null) return new PagedIterator<RecordDoc>(async () => []);
    let left = plan.limit;
    if (plan.source === undefined) {
      const range = { gte: K.rec(plan.lo), lte: K.rec(plan.hi), limit: left === Infinity ? -1 : left };
      // Opened on the first next(), so a query nobody iterates holds no LevelDB iterator.
      let it: PageSource | null = null;
      return new PagedIterator(
        async () => (await (it ??= this.db.values(range)).nextv(1000)).map((v) => JSON.parse(v) as RecordDoc),
        async () => it?.close(),
      );
    }
    // The per-source index holds keys only; fetch the documents a page at a time.
    const prefix = `s!${plan.source}\x00`;
    const range = { gte: prefix + plan.lo, lte: prefix + plan.hi, limit: left === Infinity ? -1 : left };
    let it: PageSource | null = null;
    return new PagedIterator(
      async () => {
        for (;;) {
          const keys = await (it ??= this.db.keys(range)).nextv(500);
          if (keys.length === 0 || left <= 0) return [];
          const docs = await this.db.getMany(keys.map((k) => K.rec(k.slice(prefix.length))));
          const page = docs
            .filter((d): d is string => d !== undefined)
            .map((d) => JSON.parse(d) as RecordDoc);
          left -= page.length;
          if (page.length > 0) return page;
        }
      },
      async () => it?.close(),
    );
  }

  private queryPlan(q: QueryOptions): { lo: string; hi: string; limit: number; source?: string } | null {
    if (typeof q !== "object" || q === null) throw new InputError("bad_query", "query must be an object");
    const from = normaliseTimestamp(q.from, Number.MAX_SAFE_INTEGER);
    // "Up to the end of time" is a fair request: clamp to the widest key the index holds.
    const to = Math.min(normaliseTimestamp(q.to, Number.MAX_SAFE_INTEGER), 10 ** TS_WIDTH - 1);
    const limit = q.limit ?? Infinity;
    if (q.limit !== undefined && (!Number.isSafeInteger(q.limit) || q.limit < 0)) {
      throw new InputError("bad_query", "limit must be a non-negative integer");
    }
    // eslint-disable-next-line no-control-regex
    if (q.source !== undefined && (typeof q.source !== "string" || /[\x00-\x1f]/.test(q.source))) {
      throw new InputError("bad_query", "source must be a string without control characters");
    }
    if (from > to || limit === 0) return null;
    return { lo: pad(from, TS_WIDTH) + "!", hi: pad(to, TS_WIDTH) + "!~", limit, source: q.source };
  }

  // ---- replicas ------------------------------------------------------------------------------

  /** Stores a record another node signed (replication). Verified first; idempotent. */
  async storeReplica(doc: RecordDoc): Promise<void> {
    const bad = verifyRecord(doc);
    if (bad !== null) throw new InputError("bad_record", `replica rejected: ${bad}`);
    if (doc.miner === this.identity.id)
      throw new InputError("bad_record", "replica rejected: it is our own record");
    const prev = await this.db.get(K.replica(doc.key));
    if (prev !== undefined) return;
    await this.storeReplicas([doc]);
  }

  /**
   * Stores a batch of replicas in one write: replication coalesces records per peer, and a write
   * per record would serialise the writer chain. All or nothing: one record that fails
   * verification rejects the batch before anything is written. Our own records are skipped.
   */
  async storeReplicas(docs: RecordDoc[]): Promise<{ stored: number }> {
    for (const doc of docs) {
      const bad = verifyRecord(doc);
      if (bad !== null) throw new InputError("bad_record", `replica rejected: ${bad}`);
    }
    // No read before the write: a replica is the signed record itself, so writing it again is a
    // no-op in effect, and skipping the read takes a thread-pool round trip off every put.
    const seen = new Set<string>();
    const ops: Op[] = [];
    for (const doc of docs) {
      if (seen.has(doc.key) || doc.miner === this.identity.id) continue;
      seen.add(doc.key);
      ops.push(
        { type: "put", key: K.replica(doc.key), value: JSON.stringify(doc) },
        { type: "put", key: K.replicaTx(doc.txID), value: doc.key },
      );
    }
    if (ops.length > 0) await this.enqueueWrite(ops);
    return { stored: ops.length / 2 };
  }

  /** A replica by its txID: lets the network verify a transaction while its owner is down. */
  async getReplicaByTxID(txID: string): Promise<RecordDoc | undefined> {
    if (typeof txID !== "string") return undefined;
    const key = await this.db.get(K.replicaTx(txID));
    const doc = key === undefined ? undefined : await this.getReplica(key);
    return doc?.txID === txID ? doc : undefined;
  }

  async getReplica(key: string): Promise<RecordDoc | undefined> {
    if (typeof key !== "string") return undefined;
    const v = await this.db.get(K.replica(key));
    return v === undefined ? undefined : (JSON.parse(v) as RecordDoc);
  }

  async *replicaKeys(): AsyncIterable<string> {
    for await (const [k] of rangeEntries(this.db, { gte: "R!", lt: "R!~" }, true)) yield k.slice(2);
  }

  async *ownKeys(): AsyncIterable<string> {
    for await (const [k] of rangeEntries(this.db, { gte: "k!", lt: "k!~" }, true)) yield k.slice(2);
  }

  // ---- blocks --------------------------------------------------------------------------------

  private template(): HeaderTemplate | null {
    if (this.closed) return null;
    // An empty valid block has nothing to seal; mining resumes when a record lands in it.
    if (this.valid !== null && this.headAcc.count === 0) return null;
    return {
      height: this.headBlock.height + 1,
      prev: this.headBlock.hash,
      miner: this.identity.id,
      target: targetFor(this.reliability()),
      sealedRoot: this.headAcc.root(),
    };
  }

  private blockFound(header: BlockHeader, hash: string): void {
    const block = makeBlock(header, hash, this.identity);
    // MRU (Listing 3): the newest block is the single valid one from this instant.
    this.headBlock = block;
    this.valid = block;
    this.headAcc = new MerkleAccumulator();
    const write = this.enqueueWrite([
      { type: "put", key: K.block(hash), value: JSON.stringify(block) },
      { type: "put", key: K.height(block.height), value: hash },
    ]);
    write.then(
      () => this.safeEmit("block", block),
      (e) => this.log.error("block write failed", { err: errorText(e) }),
    );
    if (this.waiting.length > 0) {
      this.incoming.unshift(...this.waiting);
      this.waiting = [];
      this.kickFlush();
    }
  }

  /** An invalid condition (low battery, out of disk, network loss...): the block in use is retired. */
  async invalidate(reason: string): Promise<void> {
    const b = this.valid;
    if (b === null || this.closed) return;
    this.valid = null;
    this.log.warn("block invalidated", { height: b.height, block: b.hash, reason });
    this.safeEmit("invalid", { hash: b.hash, reason });
    this.miner.wake();
    await this.enqueueWrite([{ type: "put", key: K.invalid(b.hash), value: String(reason).slice(0, 500) }]);
  }

  head(): Block {
    return this.headBlock;
  }

  validBlock(): Block | null {
    return this.valid;
  }

  height(): number {
    return this.headBlock.height;
  }

  async *blocks(): AsyncIterable<Block> {
    for await (const [, hash] of rangeEntries(this.db, { gte: "H!", lt: "H!~" })) {
      const b = await this.db.get(K.block(hash));
      if (b !== undefined) yield JSON.parse(b) as Block;
    }
  }

  /** A block of this node's branch by its hash (only its own blocks are stored under B!). */
  async block(hash: string): Promise<Block | undefined> {
    const b = await this.db.get(K.block(hash));
    return b === undefined ? undefined : (JSON.parse(b) as Block);
  }

  async isInvalid(hash: string): Promise<string | undefined> {
    return this.db.get(K.invalid(hash));
  }

  private reliability(): number {
    try {
      return clampReliability(this.reliabilityFn());
    } catch {
      return 0;
    }
  }

  async info(): Promise<LedgerInfo> {
    const r = this.reliability();
    return {
      height: this.headBlock.height,
      head: this.headBlock.hash,
      validBlock: this.valid?.hash ?? null,
      target: targetFor(r),
      tier: tierFor(r),
      reliability: r,
      recordsSealed: this.recordCount - this.headAcc.count,
      recordsUnsealed: this.headAcc.count,
      records: this.recordCount,
    };
  }

  /** Resumes the miner after stopMining() (or after open with mine: false). */
  startMining(): void {
    if (!this.closed) this.miner.start();
  }

  /** Pauses the miner: records keep going into the valid block, if any, or wait for one. */
  stopMining(): void {
    this.miner.stop();
  }

  /** Number of records waiting for a valid block. */
  queued(): number {
    return this.waiting.length;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.miner.stop();
    while (this.flushing) await new Promise((r) => setImmediate(r));
    // Records still waiting for a block were never acknowledged: fail them rather than hang.
    for (const p of [...this.waiting, ...this.incoming])
      p.reject(new Error("ledger closed before the record was stored"));
    this.waiting = [];
    this.incoming = [];
    await this.writeChain;
    await this.closePool();
    await this.db.put(K.state, "clean", { sync: true });
    await this.db.close();
  }
}

export { genesisBlock };
