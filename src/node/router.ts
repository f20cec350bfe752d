// Puts, gets and queries across the ring: a chunk goes to successor(key), retried while the ring
// repairs; a read is served by any live holder; a query asks every member and merges.
import type { ChordNode } from "../chord/node.js";
import type { PeerRef } from "../chord/transport.js";
import type { Ledger } from "../ledger/ledger.js";
import type { RecordDoc } from "../ledger/record.js";
import type { Logger } from "../log.js";
import { errorText, InputError, NotFoundError, UnavailableError } from "../util/errors.js";
import { isHex64 } from "../util/hex.js";
import type { PutInput, PutResult } from "./api.js";
import { FLOWCOIN_SOURCE } from "./approval.js";
import { keyedChunk, type KeyedChunk } from "./keyed-chunk.js";
import type { RingMembers } from "./members.js";
import type { Placement } from "./placement.js";
import type { PeerClient } from "./protocol/peer-client.js";
import type { RateMeter } from "./rate-meter.js";

const PUT_ATTEMPTS = 8;
const GET_ATTEMPTS = 4;

export interface RouterComponents {
  chord: ChordNode;
  ledger: Ledger;
  placement: Placement;
  client: PeerClient;
  members: RingMembers;
  puts: RateMeter;
  log: Logger;
  delay: (ms: number) => Promise<void>;
  /** As Placement's: once true, an acknowledged put needs w copies. */
  hasHadPeers: () => boolean;
}

const isCode = (err: unknown, code: string): boolean => err instanceof UnavailableError && err.code === code;

export class Router {
  constructor(
    private readonly c: RouterComponents,
    private readonly init: { stabilizeMs: number; replicas: number; writeQuorum: number },
  ) {}

  private get selfId(): string {
    return this.c.chord.self.id;
  }

  /** Records a chunk this node owns (the `store.put` handler and local routing end here). */
  async storeAsOwner(chunk: KeyedChunk): Promise<RecordDoc> {
    const { record } = await this.c.placement.storeAsOwner(chunk);
    this.c.puts.mark();
    return record;
  }

  /** A reading from an endpoint: validated and keyed here, then routed to its owner. */
  put(input: PutInput): Promise<PutResult> {
    if (typeof input !== "object" || input === null)
      throw new InputError("bad_chunk", "put takes {value, source?, timestamp?}");
    if (input.source === FLOWCOIN_SOURCE) {
      throw new InputError("reserved_source", `${FLOWCOIN_SOURCE} is written only by approvals`);
    }
    const chunk = keyedChunk({
      source: input.source ?? `urn:flowchain:node:${this.selfId}`,
      timestamp: input.timestamp ?? Date.now(),
      value: input.value,
    });
    return this.route(chunk);
  }

  /** Sends a validated chunk to successor(key), retrying while the ring repairs. */
  async route(chunk: KeyedChunk): Promise<PutResult> {
    let lastError: unknown;
    /** Owners an earlier attempt reached without an answer: each may have recorded the chunk. */
    const tried = new Map<string, PeerRef>();
    for (let attempt = 0; attempt < PUT_ATTEMPTS; attempt++) {
      if (attempt > 0) await this.c.delay(Math.min(this.init.stabilizeMs * attempt, 2000));
      if (!this.c.chord.isInRing() && this.c.hasHadPeers()) {
        throw new UnavailableError(
          "not_enough_replicas",
          "not enough replicas: this node is cut off from the ring and is looking for its members",
          5,
        );
      }
      try {
        // The owner checks the key is its own on arrival, so the first try skips confirming it.
        const { owner, hops } = await this.c.chord.lookup(chunk.key, { confirm: attempt > 0 });
        // A retry never records the chunk a second time: what an earlier attempt left anywhere
        // (an owner's branch or a replica) is the record, brought up to w copies.
        const earlier =
          tried.size > 0 ? await this.findEarlier(chunk.key, owner, [...tried.values()]) : undefined;
        if (earlier) {
          await this.ensureCopies(earlier, owner, [...tried.values()]);
          return { key: chunk.key, txID: earlier.txID, owner: earlier.miner, block: earlier.block, hops };
        }
        tried.set(owner.id, owner);
        const record =
          owner.id === this.selfId
            ? await this.storeAsOwner(chunk)
            : await this.c.client.call(owner, "store.put", chunk);
        return { key: chunk.key, txID: record.txID, owner: record.miner, block: record.block, hops };
      } catch (err) {
        if (err instanceof InputError) throw err;
        // A node with nobody to copy to says so at once; the caller has Retry-After.
        if (isCode(err, "not_enough_replicas") && this.alone()) throw err;
        lastError = err;
        this.c.log.debug("put retry", { attempt, err: errorText(err) });
      }
    }
    // The caller learns the node's honest reason when there was one (not enough replicas).
    if (lastError instanceof UnavailableError) throw lastError;
    throw new UnavailableError(
      "unavailable",
      `put failed after ${PUT_ATTEMPTS} attempts: ${errorText(lastError)}`,
    );
  }

  /**
   * The chunk's record as an earlier attempt left it, on this node, the owner's holders or a tried
   * owner. Only a record mined by an owner an earlier attempt reached can be what that attempt
   * left: any other record of the same chunk (a replica planted by a member) is not this put's.
   */
  private async findEarlier(key: string, owner: PeerRef, tried: PeerRef[]): Promise<RecordDoc | undefined> {
    const ours = (doc: RecordDoc | null | undefined): doc is RecordDoc =>
      !!doc && doc.key === key && tried.some((t) => t.id === doc.miner);
    const local = await this.c.placement.find(key);
    if (ours(local)) return local;
    const seen = new Set<string>([this.selfId]);
    for (const peer of [...tried, ...(await this.c.members.holders(owner))]) {
      if (seen.has(peer.id)) continue;
      seen.add(peer.id);
      const doc = await this.c.client.tryCall(peer, "store.get", { key }, null);
      if (ours(doc)) return doc;
    }
    return undefined;
  }

  /** Puts an existing record on the key's first k holders that lack it; w of them must hold it. */
  private async ensureCopies(doc: RecordDoc, owner: PeerRef, via: PeerRef[]): Promise<void> {
    const holders = (await this.c.members.holders(owner)).slice(0, this.init.replicas);
    let copies = 0;
    for (const h of holders) {
      const held =
        h.id === this.selfId
          ? await this.c.placement.find(doc.key)
          : await this.c.client.tryCall(h, "store.get", { key: doc.key }, null);
      if (held) {
        copies++;
        continue;
      }
      const stored =
        h.id === this.selfId
          ? await this.c.placement.acceptReplicas([doc], via).then(
              () => true,
              () => false,
            )
          : await this.c.client.tryCall(h, "store.replica", { records: [doc] }, null).then((r) => r !== null);
      if (stored) copies++;
    }
    const needed = this.c.hasHadPeers()
      ? this.init.writeQuorum
      : Math.min(this.init.writeQuorum, holders.length);
    if (copies < needed) {
      throw new UnavailableError(
        "not_enough_replicas",
        `not enough replicas: ${copies} copies of ${doc.key} are durable`,
        5,
      );
    }
  }

  /** Nobody to copy to: a lone ring of one, or cut off from the ring while it tries to rejoin. */
  private alone(): boolean {
    return !this.c.chord.isInRing() || this.c.chord.successors().every((p) => p.id === this.selfId);
  }

  async get(key: string): Promise<RecordDoc> {
    if (!isHex64(key)) throw new InputError("bad_key", "key must be 64 lowercase hex characters");
    const local = await this.c.placement.find(key);
    if (local) return local;
    for (let attempt = 0; attempt < GET_ATTEMPTS; attempt++) {
      if (attempt > 0) await this.c.delay(this.init.stabilizeMs * attempt);
      let owner;
      try {
        owner = (await this.c.chord.lookup(key)).owner;
      } catch {
        continue; // the ring is repairing: look again
      }
      if (owner.id === this.selfId) {
        const mine = await this.c.placement.find(key);
        if (mine) return mine;
      }
      for (const peer of await this.c.members.holders(owner)) {
        if (peer.id === this.selfId) continue;
        const doc = await this.c.client.tryCall(peer, "store.get", { key }, null);
        if (doc) return doc;
      }
      break;
    }
    // Not where the ring says it belongs: right after a merge or a join the record may still be
    // only with the miner that recorded it, until repair moves it. A 404 must mean nobody has it,
    // so a miss asks every member before answering.
    const members = (await this.c.members.all()).filter((m) => m.id !== this.selfId);
    const found = await Promise.all(members.map((m) => this.c.client.tryCall(m, "store.get", { key }, null)));
    const doc = found.find((d) => d !== null);
    if (doc) return doc;
    throw new NotFoundError(`no record with key ${key}`);
  }

  /** `get` that answers undefined for a key nobody holds. */
  find(key: string): Promise<RecordDoc | undefined> {
    return this.get(key).catch((err) => (err instanceof NotFoundError ? undefined : Promise.reject(err)));
  }
}
