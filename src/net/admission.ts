// Admission of inbound peer connections that have not authenticated yet (issue 10: ~256 idle
// WebSocket handshakes, reopened as they closed, used to fill the handshake cap and lock members
// out with 4003).
//
// Policy, in order of what protects whom:
// - Only inbound, still-unauthenticated connections are counted; dialed connections and
//   authenticated members never are, so they always have a slot.
// - Budgets: at most `maxHandshakes` (default 256) pending connections in total and at most
//   `maxHandshakesPerAddress` (default 64) per source. A source is an IPv4 address or an IPv6 /64
//   (an attacker gets a whole /64 as cheaply as one address).
// - A newcomer is never refused for lack of room: when its source's budget (or the global one)
//   is full, the OLDEST pending connection of the lowest rank is evicted instead, closed with
//   4003 too_many_handshakes. Idle flood sockets are old; a member's handshake takes milliseconds,
//   so it is almost always the newest one. A per-address cap that refused newcomers would lock
//   out members sharing the flooder's address (every node of a test cluster is on 127.0.0.1).
// - Ranks: 0 = nothing received yet; 1 = sent a hello that passed checkHello (it holds a valid
//   join token); 2 = that hello claims an id that has authenticated with this node before. Rank
//   0 goes first, so a member's connection, once its hello is read, outlives any number of
//   sockets that never speak. The claimed id is not proven until the handshake ends: it only
//   orders evictions, nothing else.
// - When the global budget is full, the victim comes from the source holding the most
//   connections of the lowest rank present, so a flood from one source evicts itself and does
//   not starve another source.
// - Counting starts at the TCP accept, before TLS (peer-listener.ts): a socket that never starts
//   TLS costs no more than a slot, and is evicted like any other.
// - Time limits (peer-listener.ts, connection.ts): an inbound connection must finish within
//   `handshakeTimeoutMs` (default 5000 ms) of its accept, TLS and upgrade included, and send its
//   hello within `helloTimeoutMs` (default 2000 ms) of the upgrade, else it is reset or closed
//   with 4000 handshake_timeout.
// Memory per pending connection is one entry here plus its socket and Connection, and the
// number of entries never exceeds maxHandshakes.
import { isIPv4, isIPv6 } from "node:net";

export type AdmissionRank = 0 | 1 | 2;

export interface AdmissionLimits {
  maxPending: number;
  maxPendingPerSource: number;
}

interface Entry {
  source: string;
  rank: AdmissionRank;
  /** Admission order: breaks ties between sources toward the older connection. */
  seq: number;
}

/** Pending connections by source and rank; each Set iterates oldest first. */
export class Admission<T> {
  private readonly entries = new Map<T, Entry>();
  private readonly bySource = new Map<string, Array<Set<T>>>();
  private readonly limits: AdmissionLimits;
  private seq = 0;

  constructor(limits: AdmissionLimits) {
    const maxPending = Math.max(1, limits.maxPending);
    this.limits = { maxPending, maxPendingPerSource: clamp(limits.maxPendingPerSource, 1, maxPending) };
  }

  get size(): number {
    return this.entries.size;
  }

  /** Pending connections from `source` (a sourceKey). */
  countFrom(source: string): number {
    const ranks = this.bySource.get(source);
    return ranks ? ranks[0].size + ranks[1].size + ranks[2].size : 0;
  }

  /**
   * Admits `item` from `source` at rank 0 and returns the connections it displaces; they are
   * already forgotten here, the caller closes them. When `source`'s own budget is full and its
   * oldest connection may not be displaced yet (`canDisplace`), the newcomer is refused instead:
   * null, nothing changed.
   */
  admit(item: T, source: string, canDisplace?: (own: T) => boolean): T[] | null {
    const victims: T[] = [];
    const evict = (victim: T | undefined) => {
      if (victim === undefined) return;
      this.remove(victim);
      victims.push(victim);
    };
    if (this.countFrom(source) >= this.limits.maxPendingPerSource) {
      const own = this.oldestFrom(source);
      if (own !== undefined && canDisplace && !canDisplace(own)) return null;
      evict(own);
    }
    if (this.entries.size >= this.limits.maxPending) evict(this.globalVictim());
    this.entries.set(item, { source, rank: 0, seq: this.seq++ });
    this.ranksOf(source)[0].add(item);
    return victims;
  }

  /** Moves a pending connection up (its hello checked out); a no-op for unknown items. */
  promote(item: T, rank: AdmissionRank): void {
    const e = this.entries.get(item);
    if (!e || rank <= e.rank) return;
    const ranks = this.ranksOf(e.source);
    ranks[e.rank].delete(item);
    ranks[rank].add(item);
    e.rank = rank;
  }

  /** Forgets a connection (authenticated or closed); idempotent. */
  remove(item: T): void {
    const e = this.entries.get(item);
    if (!e) return;
    this.entries.delete(item);
    const ranks = this.bySource.get(e.source)!;
    ranks[e.rank].delete(item);
    if (ranks[0].size + ranks[1].size + ranks[2].size === 0) this.bySource.delete(e.source);
  }

  private ranksOf(source: string): Array<Set<T>> {
    let ranks = this.bySource.get(source);
    if (!ranks) this.bySource.set(source, (ranks = [new Set(), new Set(), new Set()]));
    return ranks;
  }

  private oldestFrom(source: string): T | undefined {
    for (const set of this.bySource.get(source) ?? []) {
      for (const item of set) return item;
    }
    return undefined;
  }

  /**
   * Oldest of the lowest rank present, from the source holding the most of that rank (of
   * equally heavy sources, the one with the older connection). O(sources), at most maxPending.
   */
  private globalVictim(): T | undefined {
    for (const rank of [0, 1, 2] as const) {
      let best: { size: number; oldest: T; seq: number } | undefined;
      for (const ranks of this.bySource.values()) {
        const set = ranks[rank];
        if (set.size === 0 || set.size < (best?.size ?? 0)) continue;
        const oldest: T = set.values().next().value!;
        const seq = this.entries.get(oldest)!.seq;
        if (!best || set.size > best.size || seq < best.seq) best = { size: set.size, oldest, seq };
      }
      if (best) return best.oldest;
    }
    return undefined;
  }
}

/** The budget key of a remote address: IPv4 as is (also when IPv4-mapped), IPv6 by its /64. */
export function sourceKey(remoteAddress: string | undefined): string {
  if (!remoteAddress) return "unknown";
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(remoteAddress);
  if (mapped) return mapped[1];
  if (isIPv4(remoteAddress)) return remoteAddress;
  if (!isIPv6(remoteAddress)) return remoteAddress;
  const [head, tail] = remoteAddress.toLowerCase().split("%")[0].split("::");
  const left = head ? head.split(":") : [];
  const right = tail === undefined ? [] : tail ? tail.split(":") : [];
  // A dotted IPv4 tail ("::ffff:1.2.3.4", "64:ff9b::1.2.3.4") stands for two groups.
  const dotted = remoteAddress.includes(".") ? 1 : 0;
  const zeros = tail === undefined ? 0 : 8 - left.length - right.length - dotted;
  const groups = [...left, ...Array<string>(zeros).fill("0"), ...right];
  return `${groups
    .slice(0, 4)
    .map((g) => g.replace(/^0+(?=.)/, ""))
    .join(":")}::/64`;
}

function clamp(n: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, n));
}
