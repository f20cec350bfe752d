// Puts, gets and queries across the ring: a chunk goes to successor(key), retried while the ring
// repairs; a read is served by any live holder; a query asks every member and merges.
import type { ChordNode } from "../chord/node.js";
import type { Ledger } from "../ledger/ledger.js";
import type { RecordDoc } from "../ledger/record.js";
import type { Logger } from "../log.js";
import { errorText, InputError, NotFoundError, UnavailableError } from "../util/errors.js";
import { isHex64 } from "../util/hex.js";
import type { PutInput, PutResult, QueryInput } from "./api.js";
import { FLOWCOIN_SOURCE } from "./approval.js";
import { keyedChunk, type KeyedChunk } from "./keyed-chunk.js";
import type { RingMembers } from "./members.js";
import type { Placement } from "./placement.js";
import type { PeerClient } from "./protocol/peer-client.js";
import { QUERY_MAX } from "./protocol/table.js";
import type { RateMeter } from "./rate-meter.js";

const PUT_ATTEMPTS = 8;
const GET_ATTEMPTS = 4;
export const QUERY_DEFAULT_LIMIT = 100;

export interface RouterComponents {
  chord: ChordNode;
  ledger: Ledger;
  placement: Placement;
  client: PeerClient;
  members: RingMembers;
  puts: RateMeter;
  log: Logger;
  delay: (ms: number) => Promise<void>;
}

export class Router {
  constructor(
    private readonly c: RouterComponents,
    private readonly init: { stabilizeMs: number },
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
    for (let attempt = 0; attempt < PUT_ATTEMPTS; attempt++) {
      if (attempt > 0) await this.c.delay(Math.min(this.init.stabilizeMs * attempt, 2000));
      try {
        // The owner checks the key is its own on arrival, so the first try skips confirming it.
        const { owner, hops } = await this.c.chord.lookup(chunk.key, { confirm: attempt > 0 });
        const record =
          owner.id === this.selfId
            ? await this.storeAsOwner(chunk)
            : await this.c.client.call(owner, "store.put", chunk);
        return { key: chunk.key, txID: record.txID, owner: record.miner, block: record.block, hops };
      } catch (err) {
        if (err instanceof InputError) throw err;
        lastError = err;
        this.c.log.debug("put retry", { attempt, err: errorText(err) });
      }
    }
    throw new UnavailableError(
      "unavailable",
      `put failed after ${PUT_ATTEMPTS} attempts: ${errorText(lastError)}`,
    );
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
    throw new NotFoundError(`no record with key ${key}`);
  }

  /** `get` that answers undefined for a key nobody holds. */
  find(key: string): Promise<RecordDoc | undefined> {
    return this.get(key).catch((err) => (err instanceof NotFoundError ? undefined : Promise.reject(err)));
  }

  async localQuery(q: QueryInput): Promise<RecordDoc[]> {
    const out: RecordDoc[] = [];
    const limit = Math.min(q.limit ?? QUERY_DEFAULT_LIMIT, QUERY_MAX);
    for await (const doc of this.c.ledger.query({ ...q, limit })) out.push(doc);
    return out;
  }

  async query(q: QueryInput): Promise<RecordDoc[]> {
    const limit = q.limit ?? QUERY_DEFAULT_LIMIT;
    if (!Number.isInteger(limit) || limit < 1 || limit > QUERY_MAX) {
      throw new InputError("bad_limit", `limit must be an integer from 1 to ${QUERY_MAX}`);
    }
    const local = await this.localQuery({ ...q, limit });
    const members = await this.c.members.all();
    const remote = await Promise.all(
      members
        .filter((m) => m.id !== this.selfId)
        .map((m) => this.c.client.tryCall(m, "store.query", { ...q, limit }, [])),
    );
    const byKey = new Map<string, RecordDoc>();
    for (const doc of [local, ...remote].flat()) if (!byKey.has(doc.key)) byKey.set(doc.key, doc);
    return [...byKey.values()]
      .sort((a, b) => a.timestamp - b.timestamp || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
      .slice(0, limit);
  }
}
