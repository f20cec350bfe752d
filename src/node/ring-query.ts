// Queries across the ring, complete or honest about what is missing. Every member answers with
// the records of its own branch and the replicas it holds for its key range, (predecessor,
// member], a page at a time under the frame limit. A member that does not answer is stood in for
// by its successors, who keep the replicas of its range; a range nobody answers for is reported
// missing, never silently dropped.
import type { PeerRef } from "../chord/transport.js";
import { betweenRightIncl } from "../chord/id.js";
import type { Ledger } from "../ledger/ledger.js";
import { normaliseTimestamp, type RecordDoc } from "../ledger/record.js";
import { InputError } from "../util/errors.js";
import type { QueryInput, QueryResult } from "./api.js";
import type { RingMembers } from "./members.js";
import type { PeerClient } from "./protocol/peer-client.js";
import type { Params, Result } from "./protocol/table.js";
import { QUERY_MAX, QUERY_PAGE } from "./protocol/table.js";

export const QUERY_DEFAULT_LIMIT = 100;
/** A member's page stays well under the 1 MiB peer frame. */
const PAGE_BYTES = 512 * 1024;
/** Successors asked for a silent member's range: the replicas live on the next k-1. */
const STAND_INS = 2;

type After = { timestamp: number; txID: string };
type Range = { from: string; to: string };
type StoreQuery = Params<"store.query">;

const order = (a: RecordDoc, b: RecordDoc) =>
  a.timestamp - b.timestamp || (a.txID < b.txID ? -1 : a.txID > b.txID ? 1 : 0);
const isAfter = (d: RecordDoc, after: After | undefined) =>
  !after || d.timestamp > after.timestamp || (d.timestamp === after.timestamp && d.txID > after.txID);

export function encodeCursor(a: After): string {
  return Buffer.from(JSON.stringify([a.timestamp, a.txID])).toString("base64url");
}

export function decodeCursor(cursor: string): After {
  try {
    const v: unknown = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8"));
    if (
      Array.isArray(v) &&
      Number.isSafeInteger(v[0]) &&
      typeof v[1] === "string" &&
      /^[0-9a-f]{64}$/.test(v[1])
    ) {
      return { timestamp: v[0] as number, txID: v[1] };
    }
  } catch {
    // fall through
  }
  throw new InputError("bad_cursor", "cursor must be the `next` of an earlier query answer");
}

export class RingQuery {
  constructor(
    private readonly c: {
      selfId: () => string;
      ledger: Ledger;
      client: PeerClient;
      members: RingMembers;
      /** This node's key range, (predecessor, self]; null while it has no predecessor. */
      ownRange: () => Range | null;
    },
  ) {}

  /**
   * This node's answer to store.query, after the cursor: every record of its own branch (a miner
   * always answers for what it recorded, wherever the ring has since moved the key), and the
   * replicas it holds whose key is in the range (so a silent miner's records still come back).
   */
  async localPage(q: StoreQuery): Promise<Result<"store.query">> {
    const range = q.range ?? this.c.ownRange();
    const limit = Math.min(q.limit ?? QUERY_DEFAULT_LIMIT, QUERY_PAGE);
    const from = normaliseTimestamp(q.from, Number.MAX_SAFE_INTEGER);
    const to = normaliseTimestamp(q.to, Number.MAX_SAFE_INTEGER);
    const inRange = (d: RecordDoc) =>
      !range || range.from === range.to || betweenRightIncl(range.from, d.key, range.to);
    const keep = (d: RecordDoc) => isAfter(d, q.after) && (q.source === undefined || d.source === q.source);
    const found: RecordDoc[] = [];
    // Own records come in time order: stop once a page past the cursor is full.
    const start = q.after ? Math.max(from, q.after.timestamp) : from;
    for await (const d of this.c.ledger.query({ from: start, to, source: q.source })) {
      if (!keep(d)) continue;
      found.push(d);
      if (found.length > limit) break;
    }
    for await (const d of this.c.ledger.replicaRecords()) {
      const wanted = inRange(d) || d.miner === q.standInFor;
      if (d.timestamp >= from && d.timestamp <= to && wanted && keep(d)) found.push(d);
    }
    found.sort(order);
    const page: RecordDoc[] = [];
    let bytes = 0;
    for (const d of found) {
      if (page.length === limit) break;
      bytes += JSON.stringify(d).length;
      if (bytes > PAGE_BYTES && page.length > 0) break;
      page.push(d);
    }
    return { records: page, more: page.length < found.length };
  }

  async query(q: QueryInput): Promise<QueryResult & { records: RecordDoc[] }> {
    const limit = q.limit ?? QUERY_DEFAULT_LIMIT;
    if (!Number.isInteger(limit) || limit < 1 || limit > QUERY_MAX) {
      throw new InputError("bad_limit", `limit must be an integer from 1 to ${QUERY_MAX}`);
    }
    const after = q.cursor === undefined ? undefined : decodeCursor(q.cursor);
    // Bad bounds fail here, before anything is asked of the ring.
    normaliseTimestamp(q.from, Number.MAX_SAFE_INTEGER);
    normaliseTimestamp(q.to, Number.MAX_SAFE_INTEGER);
    const base = { from: q.from, to: q.to, ...(q.source === undefined ? {} : { source: q.source }) };
    const members = [...(await this.c.members.all())].sort((a, b) => (a.id < b.id ? -1 : 1));
    const missing: Range[] = [];
    let more = false;
    const parts = await Promise.all(
      members.map(async (m, i) => {
        const range = { from: members[(i - 1 + members.length) % members.length].id, to: m.id };
        const askers = [
          m,
          ...Array.from({ length: STAND_INS }, (_, k) => members[(i + 1 + k) % members.length]),
        ];
        for (const peer of askers.filter((p, j) => j === 0 || p.id !== m.id)) {
          const standIn = peer.id === m.id ? {} : { standInFor: m.id };
          const got = await this.collect(peer, { ...base, range, limit, ...standIn }, after, limit);
          if (got) {
            more ||= got.more;
            return got.records;
          }
        }
        missing.push(range);
        return [];
      }),
    );
    const byKey = new Map<string, RecordDoc>();
    for (const d of parts.flat().sort(order)) if (!byKey.has(d.key)) byKey.set(d.key, d);
    const all = [...byKey.values()];
    const records = all.slice(0, limit);
    more ||= all.length > limit;
    const last = records.at(-1);
    return {
      records,
      complete: missing.length === 0,
      missing: missing.sort((a, b) => (a.to < b.to ? -1 : 1)),
      next: more && last ? encodeCursor({ timestamp: last.timestamp, txID: last.txID }) : null,
    };
  }

  /**
   * Up to `limit` records of one range from one member, paging past the frame limit. The caller
   * bounds the walk: each page must move past the last record seen. Undefined if the member fails.
   */
  private async collect(
    peer: PeerRef,
    q: StoreQuery,
    after: After | undefined,
    limit: number,
  ): Promise<{ records: RecordDoc[]; more: boolean } | undefined> {
    const out: RecordDoc[] = [];
    let cursor = after;
    for (;;) {
      const page =
        peer.id === this.c.selfId()
          ? await this.localPage({ ...q, ...(cursor ? { after: cursor } : {}) }).catch(() => undefined)
          : await this.c.client.tryCall(
              peer,
              "store.query",
              { ...q, ...(cursor ? { after: cursor } : {}) },
              undefined,
            );
      if (!page) return undefined;
      const fresh = page.records.filter((d) => isAfter(d, cursor));
      out.push(...fresh);
      if (!page.more || out.length >= limit) return { records: out, more: page.more };
      const last = fresh.at(-1);
      if (!last) return undefined; // "more" without moving forward: a broken answer
      cursor = { timestamp: last.timestamp, txID: last.txID };
    }
  }
}
