// The Virtual Block ledger of one node (paper sections 3-5): its own branch of blocks from the
// network's genesis, a single valid block (MRU, Listing 3) taking records in real time, and a timed
// miner whose next block seals the records of the block before it.
//
// This file composes the parts and owns the block lifecycle (mined, retired); the parts are
// store.ts (keyspaces), write-chain.ts (write order), write-pipeline.ts (own records),
// queries.ts (reads), replicas.ts (other owners' records) and signing.ts (crypto threads).
import { EventEmitter } from "node:events";
import { mkdir } from "node:fs/promises";
import { errorText } from "../util/errors.js";
import { Logger, silentLogger } from "../log.js";
import { Block, BlockHeader, makeBlock } from "./block.js";
import { openBranch, type Branch } from "./branch.js";
import { clampReliability, targetFor, tierFor } from "./difficulty.js";
import type { Emit, LedgerEvents } from "./events.js";
import { checkDescriptor, genesisBlock, NetworkDescriptor } from "./genesis.js";
import { Identity } from "./identity.js";
import { MERKLE_VERSION } from "./merkle.js";
import { Miner, HeaderTemplate } from "./miner.js";
import { LedgerQueries, type QueryOptions } from "./queries.js";
import type { Chunk, RecordDoc } from "./record.js";
import { ReplicaStore } from "./replicas.js";
import { Signer, createCryptoPool, defaultSignerThreads } from "./signing.js";
import { META, heightKey, openStore, primaryKey, sourceKey, type Store } from "./store.js";
import { buildWithdrawal, twinProblem, type WithdrawalDoc } from "./withdrawal.js";
import { ConflictError, NotFoundError } from "../util/errors.js";
import { WriteChain } from "./write-chain.js";
import { RecordWriter, type PutOptions } from "./write-pipeline.js";
import { ownPool, type WorkerPool } from "./worker-pool.js";

export type { Chunk, RecordDoc } from "./record.js";
export type { Block } from "./block.js";
export type { LedgerEvents } from "./events.js";
export type { QueryOptions } from "./queries.js";
export type { PutOptions } from "./write-pipeline.js";
export type { WorkerPool } from "./worker-pool.js";
export { createCryptoPool } from "./signing.js";

/**
 * Default hashing rate: ~0.3% of a core, so a node whose reliability dropped still mines its next
 * block within a second (tier 2, 256 hashes) or a few (tier 3); tier 4 takes about a minute.
 */
export const DEFAULT_HASHES_PER_SECOND = 1000;
/** Default spacing of blocks: at the easiest tier, at most one block a second. */
export const DEFAULT_BLOCK_INTERVAL_MS = 1000;

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

export class Ledger extends EventEmitter<LedgerEvents> {
  readonly dir: string;
  readonly identity: Identity;
  readonly network: NetworkDescriptor;
  private readonly store: Store;
  private readonly log: Logger;
  private readonly reliabilityFn: () => number;
  private readonly branch: Branch;
  private readonly chain: WriteChain;
  private readonly miner: Miner;
  private readonly writer: RecordWriter;
  private readonly queries: LedgerQueries;
  private readonly replicas: ReplicaStore;
  private readonly closePool: () => Promise<void>;
  private closed = false;
  /** The previous process died with the store open (kill -9, power loss): see recentOwnRecords. */
  uncleanStart = false;

  private constructor(opts: LedgerOptions, store: Store, branch: Branch) {
    super();
    this.dir = opts.dir;
    this.identity = opts.identity;
    this.network = opts.network;
    this.store = store;
    this.branch = branch;
    this.log = opts.log ?? silentLogger;
    this.reliabilityFn = opts.reliability ?? (() => 1);
    this.chain = new WriteChain({ db: store.db }, { sync: opts.sync });
    const { pool, owned } = ownPool(opts.workers ?? defaultSignerThreads(), (n) =>
      createCryptoPool(n, this.log),
    );
    this.closePool = async () => (owned ? pool?.destroy() : undefined);
    this.miner = new Miner({
      hashesPerSecond: opts.hashesPerSecond ?? DEFAULT_HASHES_PER_SECOND,
      minIntervalMs: opts.blockIntervalMs ?? DEFAULT_BLOCK_INTERVAL_MS,
      template: () => this.template(),
      found: (h, hash) => this.blockFound(h, hash),
    });
    const emit: Emit = (event, ...args) => this.safeEmit(event, ...args);
    this.writer = new RecordWriter({
      store,
      chain: this.chain,
      branch,
      identity: opts.identity,
      signer: new Signer({ identity: opts.identity, pool, log: this.log }),
      log: this.log,
      emit,
      wakeMiner: () => this.miner.wake(),
      invalidate: (reason) => this.invalidate(reason),
    });
    this.queries = new LedgerQueries({ store });
    this.replicas = new ReplicaStore({ store, chain: this.chain, identity: opts.identity });
  }

  static async open(opts: LedgerOptions): Promise<Ledger> {
    checkDescriptor(opts.network);
    await mkdir(opts.dir, { recursive: true });
    const store = await openStore(opts.dir);
    let ledger: Ledger;
    let unclean: boolean;
    try {
      const opened = await openBranch(store, opts);
      unclean = opened.unclean;
      ledger = new Ledger(opts, store, opened.branch);
    } catch (e) {
      await store.close();
      throw e;
    }
    const head = ledger.branch.head;
    ledger.uncleanStart = unclean;
    if (unclean) ledger.log.warn("unclean shutdown detected", { height: head.height, block: head.hash });
    if (opts.mine !== false) ledger.miner.start();
    return ledger;
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

  // ---- own records ---------------------------------------------------------------------------

  put(chunk: Chunk, opts: PutOptions = {}): Promise<RecordDoc> {
    return this.writer.put(chunk, opts);
  }

  /** All or nothing on input errors: one bad chunk rejects the call before anything is stored. */
  putMany(chunks: Chunk[]): Promise<RecordDoc[]> {
    return this.writer.putMany(chunks);
  }

  /** Number of records waiting for a valid block. */
  queued(): number {
    return this.writer.queued();
  }

  getByKey(key: string): Promise<RecordDoc | undefined> {
    return this.queries.getByKey(key);
  }

  getByTxID(txID: string): Promise<RecordDoc | undefined> {
    return this.queries.getByTxID(txID);
  }

  /** Records with from <= timestamp <= to, oldest first, optionally of one source; streamed. */
  query(q: QueryOptions): AsyncIterable<RecordDoc> {
    return this.queries.query(q);
  }

  ownKeys(): AsyncIterable<string> {
    return this.queries.ownKeys();
  }

  ownEntries(): AsyncIterable<{ key: string; txID: string }> {
    return this.queries.ownEntries();
  }

  /** Own records of the blocks mined since `since` (ms) and the one before them, newest first. */
  recentOwnRecords(since: number, max = 100_000): Promise<RecordDoc[]> {
    return this.queries.recentOwnRecords(since, max);
  }

  /**
   * Takes an own record that was never acknowledged out of every read, count and approval, with a
   * signed notice naming `twin` (another miner's record of the same chunk) as the one that stands.
   * The caller stores the twin as a replica first, once it has checked it is in its miner's branch
   * (a check of the network, not of this ledger). The record stays in its block, so the branch
   * keeps verifying.
   */
  async withdraw(txID: string, twin: RecordDoc, reason: string): Promise<WithdrawalDoc> {
    const own = await this.queries.getByTxID(txID);
    if (!own) throw new NotFoundError(`no own record ${txID}`);
    const problem = twinProblem(own, twin);
    if (problem) throw new ConflictError("bad_twin", `cannot withdraw ${txID}: ${problem}`);
    const notice = buildWithdrawal(own, twin, this.identity, reason, Date.now());
    const { store } = this;
    const pk = primaryKey(own.timestamp, own.txID);
    const recordJson = await store.records.get(pk);
    if (recordJson === undefined) throw new NotFoundError(`no own record ${txID}`);
    const ops: Parameters<WriteChain["write"]>[0] = [
      { type: "del", sublevel: store.records, key: pk },
      { type: "del", sublevel: store.bySource, key: sourceKey(own.source, pk) },
      { type: "del", sublevel: store.byTxID, key: own.txID },
      { type: "put", sublevel: store.withdrawn, key: pk, value: recordJson },
      { type: "put", sublevel: store.withdrawals, key: own.txID, value: JSON.stringify(notice) },
    ];
    if ((await store.byKey.get(own.key)) === pk)
      ops.push({ type: "del", sublevel: store.byKey, key: own.key });
    await this.chain.write(ops);
    this.log.warn("record withdrawn", { txID, key: own.key, replacedBy: twin.txID, reason });
    return notice;
  }

  /** The withdrawal notice of an own record, if it was withdrawn. */
  async withdrawal(txID: string): Promise<WithdrawalDoc | undefined> {
    const json = await this.store.withdrawals.get(txID);
    return json === undefined ? undefined : (JSON.parse(json) as WithdrawalDoc);
  }

  // ---- replicas ------------------------------------------------------------------------------

  /** Stores a record another node signed (replication). Verified first; idempotent. */
  storeReplica(doc: RecordDoc): Promise<void> {
    return this.replicas.storeReplica(doc);
  }

  /** One write for a batch of replicas; all or nothing on verification; our own records skipped. */
  storeReplicas(docs: RecordDoc[]): Promise<{ stored: number }> {
    return this.replicas.storeReplicas(docs);
  }

  /** A replica by its txID: lets the network verify a transaction while its owner is down. */
  getReplicaByTxID(txID: string): Promise<RecordDoc | undefined> {
    return this.replicas.getReplicaByTxID(txID);
  }

  getReplica(key: string): Promise<RecordDoc | undefined> {
    return this.replicas.getReplica(key);
  }

  replicaKeys(): AsyncIterable<string> {
    return this.replicas.replicaKeys();
  }

  replicaRecords(): AsyncIterable<RecordDoc> {
    return this.replicas.replicaRecords();
  }

  // ---- blocks --------------------------------------------------------------------------------

  private template(): HeaderTemplate | null {
    if (this.closed) return null;
    const { head, valid, acc } = this.branch;
    // An empty valid block has nothing to seal; mining resumes when a record lands in it.
    if (valid !== null && acc.count === 0) return null;
    return {
      height: head.height + 1,
      prev: head.hash,
      miner: this.identity.id,
      target: targetFor(this.reliability()),
      sealedRoot: acc.root(),
      merkle: MERKLE_VERSION,
    };
  }

  private blockFound(header: BlockHeader, hash: string): void {
    const block = makeBlock(header, hash, this.identity);
    this.branch.extend(block);
    const { blocks, heights } = this.store;
    const write = this.chain.write([
      { type: "put", sublevel: blocks, key: hash, value: JSON.stringify(block) },
      { type: "put", sublevel: heights, key: heightKey(block.height), value: hash },
    ]);
    write.then(
      () => this.safeEmit("block", block),
      (e) => this.log.error("block write failed", { err: errorText(e) }),
    );
    this.writer.release();
  }

  /** An invalid condition (low battery, out of disk, network loss...): the block in use is retired. */
  async invalidate(reason: string): Promise<void> {
    if (this.closed) return;
    const b = this.branch.retire();
    if (b === null) return;
    this.log.warn("block invalidated", { height: b.height, block: b.hash, reason });
    this.safeEmit("invalid", { hash: b.hash, reason });
    this.miner.wake();
    const value = String(reason).slice(0, 500);
    await this.chain.write([{ type: "put", sublevel: this.store.invalid, key: b.hash, value }]);
  }

  head(): Block {
    return this.branch.head;
  }

  validBlock(): Block | null {
    return this.branch.valid;
  }

  height(): number {
    return this.branch.head.height;
  }

  /** Own blocks in height order, from `fromHeight` on (a branch page starts there, not at genesis). */
  blocks(fromHeight = 0): AsyncIterable<Block> {
    return this.queries.blocks(fromHeight);
  }

  /** A block of this node's branch by its hash (only its own blocks are stored). */
  block(hash: string): Promise<Block | undefined> {
    return this.queries.block(hash);
  }

  blockAt(height: number): Promise<Block | undefined> {
    return this.queries.blockAt(height);
  }

  /** txIDs of one of this node's blocks, in Merkle leaf order. */
  leaves(hash: string): Promise<string[]> {
    return this.queries.leaves(hash);
  }

  isInvalid(hash: string): Promise<string | undefined> {
    return this.queries.isInvalid(hash);
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
    const { head, valid, acc, records } = this.branch;
    return {
      height: head.height,
      head: head.hash,
      validBlock: valid?.hash ?? null,
      target: targetFor(r),
      tier: tierFor(r),
      reliability: r,
      recordsSealed: records - acc.count,
      recordsUnsealed: acc.count,
      records,
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

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.miner.stop();
    await this.writer.close();
    await this.chain.idle();
    await this.closePool();
    await this.store.putMeta(META.state, "clean");
    await this.store.close();
  }
}

export { genesisBlock };
