// The write pipeline of a node's own records: idempotent puts, group commit, signing, and the
// queue of records that arrive while no valid block exists.
//
// Durability policy: a put is acknowledged after the LevelDB batch holding it has been written
// (LevelDB appends it to its log with write(2)). That survives the death of the process (kill -9,
// crash) because the data is in the OS page cache; it does not survive a kernel crash or power loss
// unless the write chain fsyncs (`sync: true`), ~10x fewer batches per second on ordinary disks.
// Group commit keeps the per-record cost low either way: puts that arrive while a batch is being
// written go out together in the next one.
import type { Logger } from "../log.js";
import { InputError, errorText } from "../util/errors.js";
import { doubleSha256Hex } from "../util/hash.js";
import type { Branch } from "./branch.js";
import type { Emit } from "./events.js";
import type { Identity } from "./identity.js";
import { normaliseChunk, unsignedRecord, type Chunk, type NormalChunk, type RecordDoc } from "./record.js";
import type { Signer } from "./signing.js";
import { META, type Space, type Store, type StoreBatch } from "./store.js";
import type { WriteChain } from "./write-chain.js";

export interface PutOptions {
  /**
   * Called with the signed record as soon as it exists, before it is durable, so replication can
   * overlap the local write. Not called when the chunk was already stored (the put resolves with
   * the existing record at once).
   */
  onSigned?: (doc: RecordDoc) => void;
}

interface Pending {
  c: NormalChunk;
  key: string;
  resolve: (d: RecordDoc) => void;
  reject: (e: unknown) => void;
  onSigned?: (d: RecordDoc) => void;
}

export interface RecordWriterComponents {
  store: Store;
  chain: WriteChain;
  branch: Branch;
  identity: Identity;
  signer: Signer;
  log: Logger;
  emit: Emit;
  /** The miner has something new to do: a first record to seal, or records waiting for a block. */
  wakeMiner: () => void;
  /** A group failed to reach the disk: the block in use may seal records that are not there. */
  invalidate: (reason: string) => Promise<void>;
}

export interface RecordWriterInit {
  /** Largest group commit; bigger bursts are split so one batch never holds the loop for long. */
  maxGroup?: number;
  /** Groups being signed or written at once: enough to keep a signer thread and LevelDB busy. */
  maxInFlight?: number;
}

export class RecordWriter {
  private readonly c: RecordWriterComponents;
  private readonly maxGroup: number;
  private readonly maxInFlight: number;
  private readonly inflight = new Map<string, Promise<RecordDoc>>();
  private incoming: Pending[] = [];
  // Records that arrived while no valid block existed: recorded once one is mined, never dropped.
  private waiting: Pending[] = [];
  private flushing = false;
  private closed = false;

  constructor(components: RecordWriterComponents, init: RecordWriterInit = {}) {
    this.c = components;
    this.maxGroup = init.maxGroup ?? 2000;
    this.maxInFlight = init.maxInFlight ?? 2;
  }

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

  /** Number of records waiting for a valid block. */
  queued(): number {
    return this.waiting.length;
  }

  /** A valid block exists again: the waiting records go first. */
  release(): void {
    if (this.waiting.length === 0) return;
    this.incoming.unshift(...this.waiting);
    this.waiting = [];
    this.kickFlush();
  }

  /** Finishes the group in hand; records not yet assigned to a block were never acknowledged: they fail. */
  async close(): Promise<void> {
    this.closed = true;
    while (this.flushing) await new Promise((r) => setImmediate(r));
    for (const p of [...this.waiting, ...this.incoming])
      p.reject(new Error("ledger closed before the record was stored"));
    this.waiting = [];
    this.incoming = [];
  }

  private kickFlush(): void {
    if (this.flushing) return;
    this.flushing = true;
    // Let the current tick's puts join the group.
    setImmediate(() => {
      this.flushLoop().catch((e) => this.c.log.error("flush loop failed", { err: errorText(e) }));
    });
  }

  private async flushLoop(): Promise<void> {
    // Pipelined group commit: the next group is signed while the previous batch is being written,
    // with at most maxInFlight batches in flight so groups still grow under load.
    const writing: Promise<void>[] = [];
    try {
      while (this.incoming.length > 0) {
        const group = this.incoming.splice(0, this.maxGroup);
        let written: Promise<void>;
        try {
          written = (await this.commitGroup(group)).written;
        } catch (e) {
          written = Promise.reject(e);
        }
        writing.push(
          written.catch(async (e) => {
            for (const p of group) p.reject(e);
            this.c.log.error("group commit failed", { err: errorText(e) });
            await this.c.invalidate(`store write failed: ${String(e)}`).catch(() => {});
          }),
        );
        if (writing.length >= this.maxInFlight) await writing.shift();
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
    const { store, branch } = this.c;
    const fresh = await this.answerKnown(group);
    if (fresh.length === 0) return { written: Promise.resolve() };
    const block = branch.valid;
    if (block === null) {
      this.waiting.push(...fresh);
      this.c.emit("queued", { count: this.waiting.length });
      this.c.wakeMiner();
      return { written: Promise.resolve() };
    }
    // From here to the write chain is synchronous: the miner cannot switch blocks in between, and
    // the batch takes its place in the write order now (even if it is signed later), so every leaf
    // a block seals is written before that block.
    const docs: RecordDoc[] = [];
    const toSign: string[] = [];
    const wasEmpty = branch.acc.count === 0;
    for (const p of fresh) {
      const { doc, signed } = unsignedRecord(p.c, p.key, block, branch.acc.count, this.c.identity);
      branch.acc.add(doc.txID);
      docs.push(doc);
      toSign.push(signed);
    }
    branch.records += docs.length;
    const count = branch.records;
    if (wasEmpty) this.c.wakeMiner();
    const fill = (sigs: string[]): StoreBatch => {
      const batch = store.batch();
      docs.forEach((doc, i) => {
        doc.signature = sigs[i];
        const onSigned = fresh[i].onSigned;
        if (onSigned) this.safeCall(onSigned, doc);
        batch.putOwnRecord(store, doc, JSON.stringify(doc));
      });
      return batch.put(store.meta, META.records, String(count));
    };
    const written = this.c.chain.write(this.c.signer.sign(toSign).then(fill)).then(() => {
      fresh.forEach((p, i) => p.resolve(docs[i]));
      for (const d of docs) this.c.emit("transaction", d);
    });
    return { written };
  }

  /**
   * Idempotence: a chunk already stored answers with its existing record, and so does one this
   * node holds as a replica of another node's record (it took the key over after a failure or a
   * join): one read covers both, as the put path pays for every read it makes. Returns the rest.
   */
  private async answerKnown(group: Pending[]): Promise<Pending[]> {
    const { store } = this.c;
    const n = group.length;
    const found = await store.getAcross([
      ...group.map((p): [Space, string] => [store.byKey, p.key]),
      ...group.map((p): [Space, string] => [store.replicas, p.key]),
    ]);
    const fresh: Pending[] = [];
    const known: [Pending, string][] = [];
    group.forEach((p, i) => {
      if (found[i] !== undefined) known.push([p, found[i]!]);
      else if (found[n + i] !== undefined) p.resolve(JSON.parse(found[n + i]!) as RecordDoc);
      else fresh.push(p);
    });
    if (known.length > 0) {
      const docs = await store.records.getMany(known.map(([, pk]) => pk));
      known.forEach(([p], i) => p.resolve(JSON.parse(docs[i]!) as RecordDoc));
    }
    return fresh;
  }

  private safeCall(f: (d: RecordDoc) => void, doc: RecordDoc): void {
    try {
      f(doc);
    } catch (e) {
      this.c.log.error("onSigned threw", { err: errorText(e) });
    }
  }
}
