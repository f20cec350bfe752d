// The member book: every ring member this node has seen, kept long after it stops answering.
// Routing forgets a dead peer after `ttl` failed requests, but the far side of a network partition
// looks exactly like dead nodes, so a ring that forgot them could never find them again once the
// partition heals (issue 10). This is Shafaat, Ghodsi and Haridi's "passive list" ("Handling
// Network Partitions and Mergers in Structured Overlay Networks", IEEE P2P 2007): members that
// failed stay here as probe candidates, and ring-merge.ts probes them one at a time.
//
// Bounded (least recently seen evicted first). A member is forgotten only after it failed
// `forgetAfterFailures` probes AND `forgetAfterMs` passed since its first failure, so a partition
// of a few minutes never empties the book. Probes to a failing member back off exponentially (in
// maintenance rounds, capped), so a member that is really gone costs a bounded number of probes.
// No I/O.
import type { PeerRef } from "./transport.js";

export interface MemberBookOptions {
  /** Entries kept (default 1024); the least recently seen goes first. */
  max?: number;
  /** Failed probes (with no success in between) before a member may be forgotten (default 8)... */
  forgetAfterFailures?: number;
  /** ...and no sooner than this long after its first failure (default 10 minutes). */
  forgetAfterMs?: number;
  /** Longest wait between two probes of a failing member, in rounds (default 64). */
  maxBackoffRounds?: number;
  now?: () => number;
}

const DEFAULTS: Required<MemberBookOptions> = {
  max: 1024,
  forgetAfterFailures: 8,
  forgetAfterMs: 10 * 60_000,
  maxBackoffRounds: 64,
  now: Date.now,
};

interface Entry {
  ref: PeerRef;
  /** Consecutive failed contacts of any kind (routing or probe) since it last answered. */
  failures: number;
  /** Consecutive failed probes: what forgetting and backoff count. */
  probeFailures: number;
  /** When the current run of failures began (ms, from `now`). */
  failingSince: number;
  /** Round of the last probe; -1 when never probed. */
  probedAt: number;
  /** Not probed again before this round (backoff). */
  notBefore: number;
}

/** An entry that has just answered (or was just heard of): no failures, no backoff. */
function blank(p: PeerRef, probedAt: number): Entry {
  return {
    ref: { id: p.id, addr: p.addr },
    failures: 0,
    probeFailures: 0,
    failingSince: 0,
    probedAt,
    notBefore: 0,
  };
}

/** Urgent candidates kept at once (hints, revived or newly met members). */
const URGENT_MAX = 16;

export class MemberBook {
  private readonly self: PeerRef;
  private readonly init: Required<MemberBookOptions>;
  /** Least recently seen first (Map insertion order). */
  private readonly entries = new Map<string, Entry>();
  /** Members to probe before any other: hints from the ring, members that came back or are new. */
  private readonly urgent = new Map<string, PeerRef>();
  private changed = false;

  constructor(self: PeerRef, opts: MemberBookOptions = {}) {
    this.self = self;
    this.init = { ...DEFAULTS };
    for (const k of ["max", "forgetAfterFailures", "maxBackoffRounds"] as const) {
      const v = opts[k];
      if (v === undefined) continue;
      if (!Number.isInteger(v) || v < 1) throw new RangeError(`${k} must be an integer >= 1`);
      this.init[k] = v;
    }
    if (opts.forgetAfterMs !== undefined) {
      if (!(opts.forgetAfterMs >= 0)) throw new RangeError("forgetAfterMs must be >= 0");
      this.init.forgetAfterMs = opts.forgetAfterMs;
    }
    if (opts.now) this.init.now = opts.now;
  }

  get size(): number {
    return this.entries.size;
  }

  /**
   * p answered a request of ours or sent us one (authenticated): it is live and most recently
   * seen. With `urgent`, a member that is new to us or had stopped answering is queued for a
   * probe: it may be a member of another ring (a partition healed, a restart formed two rings).
   */
  seen(p: PeerRef, urgent = false): void {
    if (p.id === this.self.id) return;
    const e = this.entries.get(p.id);
    const fresh = e === undefined || e.failures > 0 || e.ref.addr !== p.addr;
    this.entries.delete(p.id);
    this.entries.set(p.id, blank(p, e?.probedAt ?? -1));
    if (e === undefined || e.ref.addr !== p.addr) this.changed = true;
    if (urgent && fresh) this.queueUrgent(p);
    this.evict();
  }

  /** A request to p failed (routing, stabilize): it stays a candidate; only probes count towards forgetting. */
  failed(p: PeerRef): void {
    const e = this.entries.get(p.id);
    if (!e) return;
    if (e.failures === 0) e.failingSince = this.init.now();
    e.failures++;
  }

  /** Someone in the ring told us about p: probe it soon (never trusted beyond that). */
  hint(p: PeerRef): void {
    if (p.id === this.self.id) return;
    if (!this.entries.has(p.id)) {
      this.entries.set(p.id, blank(p, -1));
      this.changed = true;
      this.evict();
    }
    this.queueUrgent(p);
  }

  /**
   * The member to probe this round: an urgent one first, else the eligible member probed longest
   * ago (never-probed first), skipping `exclude` (our own neighbours, checked every round anyway)
   * and members still backing off (unless `ignoreBackoff`: a node alone has nothing better to do
   * than to try everyone in turn). Marks it probed at `round`.
   */
  nextProbe(round: number, exclude: Set<string>, ignoreBackoff = false): PeerRef | null {
    for (const [id, p] of this.urgent) {
      this.urgent.delete(id);
      if (exclude.has(id) || id === this.self.id) continue;
      const e = this.entries.get(id);
      if (e) e.probedAt = round;
      return { ...p };
    }
    let best: Entry | null = null;
    for (const e of this.entries.values()) {
      if (exclude.has(e.ref.id) || (!ignoreBackoff && e.notBefore > round)) continue;
      if (best === null || e.probedAt < best.probedAt) best = e;
    }
    if (!best) return null;
    best.probedAt = round;
    return { ...best.ref };
  }

  hasUrgent(): boolean {
    return this.urgent.size > 0;
  }

  /** A probe of p failed at `round`: back off, and forget p once it failed long and often enough. */
  probeFailed(p: PeerRef, round: number): void {
    const e = this.entries.get(p.id);
    if (!e) return;
    const now = this.init.now();
    if (e.failures === 0) e.failingSince = now;
    e.failures++;
    e.probeFailures++;
    e.notBefore = round + Math.min(2 ** e.probeFailures, this.init.maxBackoffRounds);
    if (e.probeFailures >= this.init.forgetAfterFailures && now - e.failingSince >= this.init.forgetAfterMs) {
      this.entries.delete(p.id);
      this.urgent.delete(p.id);
      this.changed = true;
    }
  }

  /** Every member, most recently seen first (for the node layer to persist). */
  members(): PeerRef[] {
    return [...this.entries.values()].reverse().map((e) => ({ ...e.ref }));
  }

  /**
   * Where to rejoin from when cut off: up to `n` members, those that last answered first (most
   * recently seen first), then failing ones.
   */
  rejoinCandidates(n: number): PeerRef[] {
    const all = [...this.entries.values()].reverse();
    return [...all.filter((e) => e.failures === 0), ...all.filter((e) => e.failures > 0)]
      .slice(0, n)
      .map((e) => ({ ...e.ref }));
  }

  /** Probe bookkeeping of one member, for tests and diagnostics. */
  entry(id: string): { failures: number; probeFailures: number } | null {
    const e = this.entries.get(id);
    return e ? { failures: e.failures, probeFailures: e.probeFailures } : null;
  }

  /** True once if members were added or forgotten since the last call. */
  takeChanged(): boolean {
    const c = this.changed;
    this.changed = false;
    return c;
  }

  private queueUrgent(p: PeerRef): void {
    this.urgent.delete(p.id);
    this.urgent.set(p.id, { id: p.id, addr: p.addr });
    if (this.urgent.size > URGENT_MAX) this.urgent.delete(this.urgent.keys().next().value as string);
  }

  private evict(): void {
    while (this.entries.size > this.init.max) {
      const oldest = this.entries.keys().next().value as string;
      this.entries.delete(oldest);
      this.urgent.delete(oldest);
      this.changed = true;
    }
  }
}
