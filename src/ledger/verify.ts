// Offline verification of a node's branch: from genesis, every block's hash, proof of work,
// signature and link to its predecessor; every record's key, txID and signature; and every block's
// sealedRoot against the Merkle root of the records stored in the block before it, by the Merkle
// version the sealing block names (1 for blocks mined before version 2). Stops at the first
// failure and reports its height.
//
// verifyDataDir opens the node's LevelDB, which LevelDB locks: it cannot run while the node that
// owns the directory is running (stop the node, or export from it and use verifyExportFile).
import { createReadStream } from "node:fs";
import { createInterface } from "node:readline";
import { Block, merkleVersionOf, verifyBlock } from "./block.js";
import { genesisBlock, isGenesisOf } from "./genesis.js";
import { merkleRoot } from "./merkle.js";
import { RecordDoc, checkRecordBody, verifyRecord } from "./record.js";
import { defaultVerifierThreads, createCryptoPool, firstBadSignature } from "./signing.js";
import { verifyWithdrawal } from "./withdrawal.js";
import { META, LedgerMeta, blockRecords, openStore, rangeEntries } from "./store.js";
import { ownPool, type WorkerPool } from "./worker-pool.js";

export interface VerifyReport {
  ok: boolean;
  blocks: number;
  records: number;
  firstBad?: { height: number; what: string };
}

class Failure extends Error {
  constructor(
    readonly height: number,
    readonly what: string,
  ) {
    super(what);
  }
}

interface SigBatch {
  result: Promise<number>;
  where: { height: number; txID: string }[];
}

const SIG_BATCH = 256;

/**
 * Fed a branch in order (genesis, then each block followed by its records); throws Failure.
 * With a crypto pool, record signatures are checked in batches on worker threads; finish() (or
 * firstFailure() after a structural failure) waits for them so the earliest failure is reported.
 */
export class ChainChecker {
  blocks = 0;
  records = 0;
  private current: Block | null = null;
  /** txIDs of the current block: the next block says which Merkle version seals them. */
  private leaves: string[] = [];
  private miner: string | null;
  private readonly pool: WorkerPool | null;
  private batch = {
    keys: [] as string[],
    data: [] as string[],
    sigs: [] as string[],
    where: [] as SigBatch["where"],
  };
  private inflight: SigBatch[] = [];

  constructor(miner: string | null = null, pool: WorkerPool | null = null) {
    this.miner = miner;
    this.pool = pool;
  }

  private dispatch(): void {
    const b = this.batch;
    if (b.keys.length === 0 || this.pool === null) return;
    this.inflight.push({
      result: firstBadSignature(this.pool, { keys: b.keys, data: b.data, sigs: b.sigs }),
      where: b.where,
    });
    this.batch = { keys: [], data: [], sigs: [], where: [] };
  }

  /** Backpressure: keep a bounded number of batches in flight; throws on a bad signature. */
  async drain(max = 8): Promise<void> {
    while (this.inflight.length > max) {
      const b = this.inflight.shift()!;
      const bad = await b.result;
      if (bad >= 0)
        throw new Failure(b.where[bad].height, `record ${b.where[bad].txID}: bad record signature`);
    }
  }

  /** After a structural failure: an earlier bad signature still in flight takes precedence. */
  async firstFailure(): Promise<Failure | null> {
    this.dispatch();
    try {
      await this.drain(0);
      return null;
    } catch (e) {
      return e as Failure;
    }
  }

  async finish(): Promise<VerifyReport> {
    const f = await this.firstFailure();
    if (f) throw f;
    return this.report();
  }

  expectMiner(id: string): void {
    this.miner = id;
  }

  /** A withdrawal notice follows the blocks and is signed by the branch's own miner. */
  withdrawal(doc: unknown, line: number): void {
    const bad = verifyWithdrawal(doc);
    if (bad !== null) throw new Failure(this.blocks - 1, `line ${line}: ${bad}`);
    if ((doc as { miner: string }).miner !== this.miner) {
      throw new Failure(this.blocks - 1, `line ${line}: withdrawal by another miner than the branch's`);
    }
  }

  genesis(b: Block, network: { name: string; adminPublicKey: string } | undefined): void {
    if (!network) throw new Failure(0, "genesis block names no network");
    let ok = false;
    try {
      ok = isGenesisOf(b, network);
    } catch (e) {
      throw new Failure(0, `genesis: ${(e as Error).message}`);
    }
    if (!ok) throw new Failure(0, "genesis block does not match the network descriptor");
    this.current = b;
    this.blocks = 1;
  }

  block(b: Block): void {
    const prev = this.current;
    const h = typeof b?.height === "number" ? b.height : -1;
    if (prev === null) throw new Failure(h, "block before genesis");
    const bad = verifyBlock(b);
    if (bad) throw new Failure(h, bad);
    if (b.height !== prev.height + 1) throw new Failure(h, `height ${b.height} follows ${prev.height}`);
    if (b.prev !== prev.hash) throw new Failure(h, "prev is not the hash of the previous block");
    if (this.miner === null) this.miner = b.miner;
    if (b.miner !== this.miner) throw new Failure(h, "block mined by another node on this branch");
    if (b.sealedRoot !== merkleRoot(this.leaves, merkleVersionOf(b))) {
      throw new Failure(
        prev.height,
        `records of block ${prev.height} do not match the sealedRoot of block ${h}`,
      );
    }
    this.current = b;
    this.leaves = [];
    this.blocks++;
  }

  record(d: RecordDoc): void {
    const b = this.current;
    const h = b?.height ?? -1;
    if (b === null || b.height === 0) throw new Failure(h, "record outside a mined block");
    if (d?.block !== b.hash) throw new Failure(h, `record ${String(d?.txID)} names another block`);
    if (d.height !== b.height) throw new Failure(h, `record ${d.txID}: height does not match its block`);
    if (d.index !== this.leaves.length)
      throw new Failure(h, `record ${d.txID}: index ${d.index}, expected ${this.leaves.length}`);
    if (d.miner !== b.miner) throw new Failure(h, `record ${d.txID}: signed by another node`);
    if (this.pool === null) {
      const bad = verifyRecord(d);
      if (bad) throw new Failure(h, `record ${String(d.txID)}: ${bad}`);
    } else {
      const r = checkRecordBody(d);
      if ("bad" in r) throw new Failure(h, `record ${String(d.txID)}: ${r.bad}`);
      const b = this.batch;
      b.keys.push(d.minerKey);
      b.data.push(r.signed);
      b.sigs.push(d.signature);
      b.where.push({ height: h, txID: d.txID });
      if (b.keys.length >= SIG_BATCH) this.dispatch();
    }
    this.leaves.push(d.txID);
    this.records++;
  }

  report(): VerifyReport {
    return { ok: true, blocks: this.blocks, records: this.records };
  }
}

async function failed(c: ChainChecker, e: unknown): Promise<VerifyReport> {
  if (e instanceof Failure) e = (await c.firstFailure()) ?? e;
  if (e instanceof Failure)
    return { ok: false, blocks: c.blocks, records: c.records, firstBad: { height: e.height, what: e.what } };
  return {
    ok: false,
    blocks: c.blocks,
    records: c.records,
    firstBad: { height: -1, what: `unreadable: ${(e as Error)?.message ?? String(e)}` },
  };
}

export interface VerifyOptions {
  /** Verifier threads (0: verify on this thread) or a crypto pool to share; default up to 4. */
  workers?: number | WorkerPool;
}

function verifierPool(opts: VerifyOptions): { pool: WorkerPool | null; close: () => Promise<void> } {
  const { pool, owned } = ownPool(opts.workers ?? defaultVerifierThreads(), createCryptoPool);
  return { pool, close: async () => (owned ? pool?.destroy() : undefined) };
}

export async function verifyDataDir(dir: string, opts: VerifyOptions = {}): Promise<VerifyReport> {
  const store = await openStore(dir, false);
  const { pool, close } = verifierPool(opts);
  const c = new ChainChecker(null, pool);
  try {
    const metaJson = await store.meta.get(META.ledger);
    if (metaJson === undefined) throw new Failure(0, "no ledger metadata in data dir");
    const meta = JSON.parse(metaJson) as LedgerMeta;
    c.expectMiner(meta.nodeId);
    let expected = 0;
    for await (const [k, hash] of rangeEntries(store.heights)) {
      const height = Number(k);
      if (height !== expected) throw new Failure(expected, `block ${expected} missing`);
      expected++;
      const json = await store.block(hash);
      if (json === undefined) throw new Failure(height, "block body missing");
      const b = JSON.parse(json) as Block;
      if (height === 0) {
        c.genesis(b, meta.network);
        if (b.hash !== genesisBlock(meta.network).hash) throw new Failure(0, "genesis hash mismatch");
        continue;
      }
      c.block(b);
      if (b.minerKey !== meta.publicKey)
        throw new Failure(height, "block signed with another key than the node's");
      try {
        for await (const d of blockRecords(store, hash)) {
          c.record(JSON.parse(d) as RecordDoc);
          if (c.records % 1024 === 0) await c.drain();
        }
      } catch (e) {
        if (e instanceof Failure) throw e;
        throw new Failure(height, (e as Error).message);
      }
    }
    if (expected === 0) throw new Failure(0, "no genesis block");
    return await c.finish();
  } catch (e) {
    return await failed(c, e);
  } finally {
    await close();
    await store.close();
  }
}

/** Checks an NDJSON export (see export.ts): genesis first, then each block followed by its records. */
export async function verifyExportFile(file: string, opts: VerifyOptions = {}): Promise<VerifyReport> {
  const { pool, close } = verifierPool(opts);
  const c = new ChainChecker(null, pool);
  const rl = createInterface({ input: createReadStream(file), crlfDelay: Infinity });
  let line = 0;
  try {
    for await (const text of rl) {
      line++;
      if (text.trim() === "") continue;
      let doc: Record<string, unknown>;
      try {
        doc = JSON.parse(text) as Record<string, unknown>;
      } catch {
        throw new Failure(c.blocks - 1, `line ${line} is not JSON`);
      }
      if (doc["@type"] === "Block") {
        const b = doc as unknown as Block;
        if (line === 1) c.genesis(b, b.network);
        else c.block(b);
      } else if (doc["@type"] === "Transaction") {
        c.record(doc as unknown as RecordDoc);
        if (c.records % 1024 === 0) await c.drain();
      } else if (doc["@type"] === "Withdrawal") {
        c.withdrawal(doc, line);
      } else {
        throw new Failure(c.blocks - 1, `line ${line}: unknown @type ${String(doc["@type"])}`);
      }
    }
    if (line === 0) throw new Failure(0, "empty export");
    return await c.finish();
  } catch (e) {
    return await failed(c, e);
  } finally {
    rl.close();
    await close();
  }
}
