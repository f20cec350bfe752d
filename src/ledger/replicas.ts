// Records of other owners that this node holds as replicas (the successors of a key keep copies
// of its record): verified on the way in, kept by data key and by txID, so the network can read
// and approve a transaction while its owner is down.
import { InputError } from "../util/errors.js";
import type { Identity } from "./identity.js";
import { verifyRecord, type RecordDoc } from "./record.js";
import { rangeEntries, rangeKeys, type Store } from "./store.js";
import type { Op, WriteChain } from "./write-chain.js";

export class ReplicaStore {
  private readonly store: Store;
  private readonly chain: WriteChain;
  private readonly identity: Identity;

  constructor(components: { store: Store; chain: WriteChain; identity: Identity }) {
    this.store = components.store;
    this.chain = components.chain;
    this.identity = components.identity;
  }

  /** Stores a record another node signed (replication). Verified first; idempotent. */
  async storeReplica(doc: RecordDoc): Promise<void> {
    const bad = verifyRecord(doc);
    if (bad !== null) throw new InputError("bad_record", `replica rejected: ${bad}`);
    if (doc.miner === this.identity.id)
      throw new InputError("bad_record", "replica rejected: it is our own record");
    if ((await this.store.replicas.get(doc.key)) !== undefined) return;
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
    const { replicas, replicaTxIDs } = this.store;
    for (const doc of docs) {
      if (seen.has(doc.key) || doc.miner === this.identity.id) continue;
      seen.add(doc.key);
      ops.push(
        { type: "put", sublevel: replicas, key: doc.key, value: JSON.stringify(doc) },
        { type: "put", sublevel: replicaTxIDs, key: doc.txID, value: doc.key },
      );
    }
    if (ops.length > 0) await this.chain.write(ops);
    return { stored: seen.size };
  }

  async getReplica(key: string): Promise<RecordDoc | undefined> {
    if (typeof key !== "string") return undefined;
    const v = await this.store.replicas.get(key);
    return v === undefined ? undefined : (JSON.parse(v) as RecordDoc);
  }

  /** A replica by its txID: lets the network verify a transaction while its owner is down. */
  async getReplicaByTxID(txID: string): Promise<RecordDoc | undefined> {
    if (typeof txID !== "string") return undefined;
    const key = await this.store.replicaTxIDs.get(txID);
    const doc = key === undefined ? undefined : await this.getReplica(key);
    return doc?.txID === txID ? doc : undefined;
  }

  replicaKeys(): AsyncIterable<string> {
    return rangeKeys(this.store.replicas);
  }

  /** Every replica, in key order. There is no time index of replicas: a query over them scans. */
  async *replicaRecords(): AsyncGenerator<RecordDoc> {
    for await (const [, v] of rangeEntries(this.store.replicas)) yield JSON.parse(v) as RecordDoc;
  }
}
