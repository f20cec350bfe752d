// What one ring member knows: its successor list (Zave's r entries), predecessor, fingers, the
// peers it has seen lately, and which of them failed how many requests in a row (a peer with at
// least one failure is a suspect: routing and answers leave it out). Every read the rest of the
// node needs goes through here, and every change is announced once as a ChordNodeEvents event.
// No I/O: maintenance, lookups and the RPC handlers change this state; it never calls anyone.
import { InputError } from "../util/errors.js";
import { ID_BITS, RING, betweenRightIncl, distance, isId, offset, toBig } from "./id.js";
import { MemberBook } from "./member-book.js";
import type { PeerRef } from "./transport.js";

/** Events a ChordNode emits, each once per change. */
export interface ChordNodeEvents {
  /** First live successor (self when alone); null while cut off from the ring. */
  successor: [PeerRef | null];
  predecessor: [PeerRef | null];
  /** The successor list without suspects. */
  successors: [PeerRef[]];
  /**
   * The member book changed (members added or forgotten): every member, most recently seen first.
   * At most once per maintenance round; for the node layer to persist and feed back on restart.
   */
  "members-book": [PeerRef[]];
}

export interface RoutingStateComponents {
  /** Where changes are announced (the ChordNode). */
  events: { emit<K extends keyof ChordNodeEvents>(event: K, ...args: ChordNodeEvents[K]): boolean };
}

export interface RoutingStateInit {
  self: PeerRef;
  /** r: successors kept. */
  successorListLength: number;
  /** Where members seen are remembered (built by the ChordNode, or a default one). */
  book?: MemberBook;
}

/** Members a cut-off node tries to rejoin through in one round. */
const REJOIN_CANDIDATES = 16;
/** Bounds the failure-count table so contacting many dead peers cannot grow memory forever. */
const FAILURE_TABLE_MAX = 4096;

export class RoutingState {
  readonly self: PeerRef;
  readonly r: number;
  private readonly events: RoutingStateComponents["events"];

  /** In ring order from self; may hold suspects (failures < ttl) in front of the first live entry. */
  private list: PeerRef[] = [];
  private pred: PeerRef | null = null;
  private readonly fingers: (PeerRef | null)[] = new Array<PeerRef | null>(ID_BITS).fill(null);
  /** Distinct routing entries (fingers and successors), rebuilt lazily after any change. */
  private routing: PeerRef[] | null = null;
  private readonly failures = new Map<string, number>();
  /** Every member seen, failing ones included: where to rejoin from, and what ring-merge probes. */
  readonly book: MemberBook;
  /** Created or joined, and not cut off since. */
  private inRing = false;
  /** Set once created or joined: only such a node tries to rejoin after being cut off. */
  private everJoined = false;
  private lastEmitted = { successor: "", predecessor: "", successors: "" };

  constructor(components: RoutingStateComponents, init: RoutingStateInit) {
    this.events = components.events;
    this.self = init.self;
    this.r = init.successorListLength;
    this.book = init.book ?? new MemberBook(init.self);
  }

  // ---- membership ---------------------------------------------------------------------------

  /** Created (list empty) or joined (the successor's list): fingers and predecessor start unknown. */
  enterRing(list: PeerRef[]): void {
    this.list = list;
    this.pred = null;
    this.fingers.fill(null);
    this.routing = null;
    this.inRing = true;
    this.everJoined = true;
    this.emitChanges();
  }

  /** The whole successor list died: we are cut off until a rejoin succeeds. */
  leaveRing(): void {
    this.inRing = false;
  }

  isInRing(): boolean {
    return this.inRing;
  }

  hasEverJoined(): boolean {
    return this.everJoined;
  }

  // ---- successors and predecessor -----------------------------------------------------------

  /** First successor not currently suspected; self when alone (or when every entry is suspect). */
  successor(): PeerRef {
    return this.successors()[0] ?? this.list[0] ?? this.self;
  }

  /** The successor list without suspects: what replication and routing should use. */
  successors(): PeerRef[] {
    return this.list.filter((p) => !this.failures.has(p.id)).map((p) => ({ ...p }));
  }

  /** The stored list, suspects included (for diagnostics and for checking full repair). */
  rawSuccessorList(): PeerRef[] {
    return this.list.map((p) => ({ ...p }));
  }

  /** The stored list itself, for maintenance to walk; change it only through setList(). */
  storedList(): readonly PeerRef[] {
    return this.list;
  }

  setList(list: PeerRef[]): void {
    this.list = list;
    this.routing = null;
  }

  /**
   * What we tell others: live-believed entries, or the raw list if all are suspect, because an
   * empty list means "I am alone and own every key" and that would be a lie.
   */
  answerList(): PeerRef[] {
    const live = this.successors();
    return live.length > 0 ? live : this.rawSuccessorList();
  }

  /**
   * `head` (already in ring order) then the successor's list, cut where it wraps back to us (small
   * rings), deduplicated, at most r long.
   */
  buildList(head: PeerRef[], tail: PeerRef[]): PeerRef[] {
    const out: PeerRef[] = [];
    const seen = new Set<string>();
    let last = -1n;
    for (const p of [...head, ...tail]) {
      if (p.id === this.self.id) break;
      const d = distance(this.self.id, p.id);
      if (d <= last) break; // wrapped around past us
      if (seen.has(p.id)) continue;
      seen.add(p.id);
      out.push({ id: p.id, addr: p.addr });
      last = d;
      if (out.length >= this.r) break;
    }
    return out;
  }

  predecessor(): PeerRef | null {
    return this.pred ? { ...this.pred } : null;
  }

  /** The stored predecessor itself (no copy), for maintenance and lookups. */
  storedPredecessor(): PeerRef | null {
    return this.pred;
  }

  setPredecessor(p: PeerRef | null): void {
    this.pred = p;
  }

  /** key in (predecessor, self]; a lone node owns everything, an unknown predecessor owns nothing. */
  isResponsibleFor(key: string): boolean {
    if (!isId(key)) throw new InputError("bad_key", "key must be 64 lowercase hex chars");
    if (!this.inRing) return false;
    if (this.pred === null) return this.list.length === 0;
    return betweenRightIncl(this.pred.id, key, this.self.id);
  }

  // ---- fingers and routing ------------------------------------------------------------------

  finger(i: number): PeerRef | null {
    return this.fingers[i];
  }

  setFinger(i: number, f: PeerRef | null): void {
    if (this.fingers[i]?.id === f?.id) return;
    this.fingers[i] = f;
    this.routing = null;
  }

  /** Fingers that are set, in finger order (duplicates included). */
  fingerRefs(): PeerRef[] {
    return this.fingers.filter((f): f is PeerRef => f !== null);
  }

  fingerSummary(): { distinct: number; entries: { start: number; id: string }[] } {
    const entries: { start: number; id: string }[] = [];
    const ids = new Set<string>();
    let prev = "";
    for (let i = 0; i < ID_BITS; i++) {
      const f = this.fingers[i];
      const id = f ? f.id : "";
      if (id !== prev && f) entries.push({ start: i, id });
      if (f) ids.add(f.id);
      prev = id;
    }
    return { distinct: ids.size, entries };
  }

  /** Up to `n` live routing entries strictly between us and key, closest to the key first. */
  closestPreceding(key: string, n: number): PeerRef[] {
    const K = toBig(key);
    const S = toBig(this.self.id);
    const span = offset(S, K);
    const out: { p: PeerRef; d: bigint }[] = [];
    for (const p of this.routingTable()) {
      if (this.failures.has(p.id)) continue;
      const off = offset(S, toBig(p.id));
      // strictly inside (self, key); with key === self the whole circle minus self qualifies
      if (off === 0n || (span !== 0n && off >= span)) continue;
      out.push({ p, d: span === 0n ? RING - off : span - off });
    }
    out.sort((a, b) => (a.d < b.d ? -1 : a.d > b.d ? 1 : 0));
    return out.slice(0, n).map((x) => ({ ...x.p }));
  }

  private routingTable(): PeerRef[] {
    if (this.routing) return this.routing;
    const m = new Map<string, PeerRef>();
    for (const f of this.fingers) if (f) m.set(f.id, f);
    for (const s of this.list) m.set(s.id, s);
    m.delete(this.self.id);
    this.routing = [...m.values()];
    return this.routing;
  }

  // ---- peers seen and failures --------------------------------------------------------------

  /**
   * A member we were told about (persisted, or an authenticated connection) or that contacted us:
   * remembered, and probed soon if it is new to us or had stopped answering.
   */
  addKnownPeer(ref: PeerRef): void {
    this.book.seen(ref, true);
  }

  /** Where to rejoin from when cut off: members that last answered first, most recent first. */
  knownPeers(): PeerRef[] {
    return this.book.rejoinCandidates(REJOIN_CANDIDATES);
  }

  /** Announces the member book if members were added or forgotten since the last announcement. */
  emitBook(): void {
    if (this.book.takeChanged()) this.events.emit("members-book", this.book.members());
  }

  /** At least one failed request since the last success. */
  isSuspect(id: string): boolean {
    return this.failures.has(id);
  }

  /** Forgets p's failures without announcing anything (rectify: the caller's next step emits). */
  clearFailures(id: string): void {
    this.failures.delete(id);
  }

  /** A request to p succeeded: it is live again, and a peer worth remembering. */
  success(p: PeerRef): void {
    const was = this.failures.delete(p.id);
    this.book.seen(p);
    if (was && this.isNeighbor(p.id)) this.emitChanges();
  }

  /** Counts one more consecutive failed request to p; returns the count. */
  failure(p: PeerRef): number {
    const n = (this.failures.get(p.id) ?? 0) + 1;
    this.failures.delete(p.id);
    this.failures.set(p.id, n);
    if (this.failures.size > FAILURE_TABLE_MAX)
      this.failures.delete(this.failures.keys().next().value as string);
    this.book.failed(p);
    // A suspect successor stops being reported as one; listeners (replication) should know now.
    if (n === 1 && this.isNeighbor(p.id)) this.emitChanges();
    return n;
  }

  private isNeighbor(id: string): boolean {
    return this.pred?.id === id || this.list.some((x) => x.id === id);
  }

  /** Announces successor, predecessor and successor list, each only if it changed since last time. */
  emitChanges(): void {
    const succ = this.inRing ? this.successor() : null;
    const pred = this.pred;
    const list = this.successors();
    const key = (p: PeerRef | null) => (p ? `${p.id}@${p.addr}` : "");
    const now = {
      successor: key(succ),
      predecessor: key(pred),
      successors: list.map((p) => key(p)).join(","),
    };
    const ev = this.events;
    if (now.successor !== this.lastEmitted.successor) ev.emit("successor", succ ? { ...succ } : null);
    if (now.predecessor !== this.lastEmitted.predecessor) ev.emit("predecessor", pred ? { ...pred } : null);
    if (now.successors !== this.lastEmitted.successors) ev.emit("successors", list);
    this.lastEmitted = now;
  }
}
