// One Chord ring member, following Zave's corrected Chord ("Reasoning about identifier spaces: how
// to make Chord correct", 2017): a successor list of length r, join by adopting the successor's
// list, stabilize that skips dead entries and adopts the successor's predecessor only when it is
// live and strictly between, rectify instead of notify. Failure detection is the Flowchain paper's
// CHECK_SUCCESSOR with a TTL (section 5.3): a peer is dropped only after `ttl` consecutive failed
// requests, so one lost reply does not evict a live successor and move its keys around.
// No sockets here: everything goes through ChordTransport.
import { EventEmitter } from "node:events";
import { silentLogger, type Logger } from "../log.js";
import { InputError, errorText } from "../util/errors.js";
import { ID_BITS, addPow2, between, betweenRightIncl, distance, fromBig, isId, toBig } from "./id.js";
import type { ChordMethod, ChordTransport, PeerRef } from "./transport.js";
import {
  emptyParams,
  keyParam,
  parseClosest,
  parseNeighbors,
  parsePing,
  parseRectify,
  peerRef,
  type ClosestResult,
  type NeighborsResult,
} from "./wire.js";

export interface ChordNodeOptions {
  self: PeerRef;
  transport: ChordTransport;
  /** r: successors kept. Zave: the ring survives any r-1 simultaneous failures of neighbours. */
  successorListLength?: number;
  /**
   * Consecutive failed requests before a peer is dropped. Default 2: a single timeout (a lost
   * frame, a GC pause on the peer) only marks the peer suspect, which routing already avoids; a
   * second one in the next round removes it. So a crashed successor is gone after two rounds while
   * a live one survives a transient blip, and the ring never reassigns keys on one missed reply.
   */
  ttl?: number;
  log?: Logger;
}

export interface LookupResult {
  owner: PeerRef;
  /** Remote nodes that answered, the owner included (the owner's confirmation is the last hop). */
  hops: number;
  path: string[];
  /** Requests that failed on the way (dead or junk-answering peers routed around). */
  timeouts: number;
}

/** How many closest-preceding candidates an answer carries: spares to route around dead ones. */
const CLOSEST_IN_ANSWER = 4;
/** A lookup that has not converged after this many contacts is abandoned (ring badly broken). */
const MAX_LOOKUP_STEPS = 96;
const KNOWN_PEERS_MAX = 16;
/** Bounds the failure-count table so contacting many dead peers cannot grow memory forever. */
const FAILURE_TABLE_MAX = 4096;
const RING = 1n << BigInt(ID_BITS);

/** Clockwise offset of b from a, both already BigInt. */
function offset(a: bigint, b: bigint): bigint {
  return (((b - a) % RING) + RING) % RING;
}

export class ChordNode extends EventEmitter {
  readonly self: PeerRef;
  private readonly transport: ChordTransport;
  private readonly r: number;
  private readonly ttl: number;
  private readonly log: Logger;

  /** In ring order from self; may hold suspects (failures < ttl) in front of the first live entry. */
  private list: PeerRef[] = [];
  private pred: PeerRef | null = null;
  private readonly fingers: (PeerRef | null)[] = new Array<PeerRef | null>(ID_BITS).fill(null);
  private nextFinger = 0;
  /** Distinct routing entries (fingers and successors), rebuilt lazily after any change. */
  private routing: PeerRef[] | null = null;
  private readonly failures = new Map<string, number>();
  /** Recently seen live peers (LRU by insertion order): where to rejoin from if cut off. */
  private readonly known = new Map<string, PeerRef>();
  /** Created or joined, and not cut off since. */
  private inRing = false;
  /** Set once created or joined: only such a node tries to rejoin after being cut off. */
  private everJoined = false;
  private timer: NodeJS.Timeout | null = null;
  private ticking = false;
  private lastEmitted = { successor: "", predecessor: "", successors: "" };

  constructor(opts: ChordNodeOptions) {
    super();
    this.self = peerRef(opts.self, "self");
    this.transport = opts.transport;
    this.r = opts.successorListLength ?? 8;
    this.ttl = opts.ttl ?? 2;
    if (!Number.isInteger(this.r) || this.r < 1)
      throw new RangeError("successorListLength must be an integer >= 1");
    if (!Number.isInteger(this.ttl) || this.ttl < 1) throw new RangeError("ttl must be an integer >= 1");
    this.log = (opts.log ?? silentLogger).child({ chord: this.self.id.slice(0, 8) });
  }

  // ---- membership -------------------------------------------------------------------------

  /** Starts a one-node ring: no successors, no predecessor; every key is ours until someone joins. */
  create(): void {
    this.list = [];
    this.pred = null;
    this.fingers.fill(null);
    this.routing = null;
    this.inRing = true;
    this.everJoined = true;
    this.emitChanges();
  }

  /**
   * Zave's join: find the first node after our id through `via`, adopt it and its successor list.
   * Predecessor stays unknown until someone rectifies us; stabilize tells the successor about us.
   */
  async join(via: PeerRef): Promise<void> {
    const entry = peerRef(via, "join via");
    if (entry.id === this.self.id) throw new InputError("join_self", "cannot join through ourselves");
    // Look up id+1, not our id: a restarted node still listed by others would otherwise find itself.
    const found = await this.lookupFrom([entry], fromBig(toBig(this.self.id) + 1n), false);
    const owner = found.owner;
    if (owner.id === this.self.id) {
      if (owner.addr !== this.self.addr) throw new InputError("duplicate_id", "another node uses our id");
      throw new Error("chord: join found only ourselves");
    }
    const nb = parseNeighbors(await this.transport.call(owner, "chord.neighbors", {}));
    this.success(owner);
    this.list = this.buildList([owner], nb.successors);
    this.pred = null;
    this.fingers.fill(null);
    this.routing = null;
    this.inRing = true;
    this.everJoined = true;
    this.log.info("joined", { via: entry.id, successor: owner.id, hops: found.hops });
    this.emitChanges();
  }

  addKnownPeer(p: PeerRef): void {
    const ref = peerRef(p, "known peer");
    if (ref.id === this.self.id) return;
    this.known.delete(ref.id);
    this.known.set(ref.id, ref);
    if (this.known.size > KNOWN_PEERS_MAX) this.known.delete(this.known.keys().next().value as string);
  }

  // ---- state --------------------------------------------------------------------------------

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

  /**
   * What we tell others: live-believed entries, or the raw list if all are suspect, because an
   * empty list means "I am alone and own every key" and that would be a lie.
   */
  private answerList(): PeerRef[] {
    const live = this.successors();
    return live.length > 0 ? live : this.rawSuccessorList();
  }

  predecessor(): PeerRef | null {
    return this.pred ? { ...this.pred } : null;
  }

  isInRing(): boolean {
    return this.inRing;
  }

  /** key in (predecessor, self]; a lone node owns everything, an unknown predecessor owns nothing. */
  isResponsibleFor(key: string): boolean {
    if (!isId(key)) throw new InputError("bad_key", "key must be 64 lowercase hex chars");
    if (!this.inRing) return false;
    if (this.pred === null) return this.list.length === 0;
    return betweenRightIncl(this.pred.id, key, this.self.id);
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

  // ---- incoming RPCs ------------------------------------------------------------------------

  /**
   * Answers one ring RPC. `from` is the authenticated sender supplied by the transport, never a
   * field of the payload. Junk params throw InputError and change nothing.
   */
  async handle(method: ChordMethod, params: unknown, from?: PeerRef): Promise<unknown> {
    switch (method) {
      case "chord.ping":
        emptyParams(params, method);
        // Answers even when cut off: liveness is what a ping asks, and we still hold our keys.
        return { id: this.self.id };
      case "chord.getPredecessor":
        emptyParams(params, method);
        this.requireRing();
        return { predecessor: this.predecessor() };
      case "chord.getSuccessorList":
        emptyParams(params, method);
        this.requireRing();
        return { successors: this.answerList() };
      case "chord.neighbors":
        emptyParams(params, method);
        this.requireRing();
        return { predecessor: this.predecessor(), successors: this.answerList() };
      case "chord.closestPreceding": {
        const key = keyParam(params, method);
        this.requireRing();
        return { successors: this.answerList(), closest: this.closestPreceding(key, CLOSEST_IN_ANSWER) };
      }
      case "chord.rectify": {
        emptyParams(params, method);
        if (from === undefined)
          throw new InputError("no_sender", "chord.rectify needs an authenticated sender");
        const sender = peerRef(from, "sender");
        this.requireRing();
        this.rectify(sender);
        return { ok: true, predecessor: this.predecessor() };
      }
      default:
        throw new InputError("unknown_method", `unknown ring method: ${String(method).slice(0, 64)}`);
    }
  }

  private requireRing(): void {
    // A node cut off from the ring would answer from stale or empty state; callers route around it.
    if (!this.inRing) throw new Error("chord: not in a ring");
  }

  /**
   * Zave's rectify: the sender thinks it is our predecessor. Adopt it if we have none, if it lies
   * strictly between the current one and us, or if the current one is suspected dead (failed
   * check_predecessor) — that replaces notify's unsafe "trust whoever calls".
   */
  private rectify(sender: PeerRef): void {
    if (sender.id === this.self.id) return;
    this.addKnownPeer(sender);
    const cur = this.pred;
    if (
      cur === null ||
      cur.id === sender.id ||
      between(cur.id, sender.id, this.self.id) ||
      this.failures.has(cur.id)
    ) {
      this.pred = sender;
      this.failures.delete(sender.id);
      // A lone node's first rectifier is also its successor (a two-node ring): take it now rather
      // than one stabilize later, so the pair is consistent as soon as the join completes.
      if (this.list.length === 0) {
        this.list = [sender];
        this.routing = null;
      }
      this.emitChanges();
    }
  }

  // ---- maintenance --------------------------------------------------------------------------

  async tick(): Promise<void> {
    if (!this.inRing) {
      if (this.everJoined) await this.rejoin();
      return;
    }
    await this.checkPredecessor();
    await this.stabilize();
    await this.fixFingers();
  }

  start(intervalMs: number): void {
    if (this.timer) return;
    const loop = () => {
      if (this.ticking) return;
      this.ticking = true;
      this.tick()
        .catch((err: unknown) => this.log.warn("tick failed", { err: errorText(err) }))
        .finally(() => {
          this.ticking = false;
        });
    };
    this.timer = setInterval(loop, intervalMs);
    // Maintenance alone must not keep the process alive.
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  async checkPredecessor(): Promise<void> {
    const p = this.pred;
    if (!p) return;
    try {
      parsePing(await this.transport.call(p, "chord.ping", {}), p);
      this.success(p);
    } catch {
      if (this.failure(p) >= this.ttl && this.pred?.id === p.id) {
        this.log.info("predecessor dropped", { peer: p.id });
        this.pred = null;
        this.emitChanges();
      }
    }
  }

  async stabilize(): Promise<void> {
    if (!this.inRing) return;
    if (this.list.length === 0) {
      // Alone until someone rectified us: in Zave's one-node ring that node is our successor too.
      if (this.pred && this.pred.id !== this.self.id) this.list = [this.pred];
      else return;
    }
    let i = 0;
    let s: PeerRef | null = null;
    let nb: NeighborsResult | null = null;
    while (i < this.list.length) {
      const e = this.list[i];
      try {
        nb = parseNeighbors(await this.transport.call(e, "chord.neighbors", {}));
        this.success(e);
        s = e;
        break;
      } catch {
        if (this.failure(e) >= this.ttl) {
          this.log.info("successor dropped", { peer: e.id });
          this.list = this.list.filter((x) => x.id !== e.id);
          this.routing = null;
        } else {
          i++; // suspect: keep it in place, skip it this round
        }
      }
    }
    if (!s || !nb) {
      this.emitChanges();
      if (this.list.length === 0) {
        this.log.warn("whole successor list dead: rejoining");
        this.inRing = false;
        await this.rejoin();
      }
      return;
    }
    const suspects = this.list.slice(0, i);
    // Adopt the successor's predecessor only if it answers (a dead one would cut us off), and keep
    // walking predecessor pointers while they stay strictly between: after many joins into one gap
    // this settles us in one round instead of moving one node closer per round.
    for (let walk = 0; walk < 2 * this.r; walk++) {
      const p: PeerRef | null = nb.predecessor;
      if (!p || p.id === this.self.id || !between(this.self.id, p.id, s.id)) break;
      try {
        const pnb = parseNeighbors(await this.transport.call(p, "chord.neighbors", {}));
        this.success(p);
        s = p;
        nb = pnb;
      } catch {
        this.failure(p);
        break;
      }
    }
    // Suspects stay listed (until ttl) only where they still precede the successor we settled on.
    const adopt = (succ: PeerRef, res: NeighborsResult) => {
      const head = suspects.filter((x) => between(this.self.id, x.id, succ.id));
      this.list = this.buildList([...head, succ], res.successors);
      this.routing = null;
      this.emitChanges();
    };
    adopt(s, nb);
    // Rectify answers with the successor's predecessor afterwards. If that is a live node strictly
    // between us (we lost to a closer rectifier, as when many join one gap at once), move to it
    // and rectify there too, instead of waiting a round per step.
    for (let walk = 0; walk < 2 * this.r; walk++) {
      let hint: PeerRef | null;
      try {
        hint = parseRectify(await this.transport.call(s, "chord.rectify", {}));
      } catch {
        this.failure(s);
        break;
      }
      if (!hint || hint.id === this.self.id || !between(this.self.id, hint.id, s.id)) break;
      try {
        nb = parseNeighbors(await this.transport.call(hint, "chord.neighbors", {}));
        this.success(hint);
      } catch {
        this.failure(hint);
        break;
      }
      s = hint;
      adopt(s, nb);
    }
  }

  /**
   * Refreshes `count` finger entries from a rolling index. Finger i is successor(self + 2^i); when
   * that start falls before a known successor or before finger i-1's node, the answer is known
   * without a lookup, so a full pass costs about log2(N / r) lookups, not 256.
   */
  async fixFingers(count: number = ID_BITS): Promise<void> {
    if (!this.inRing) return;
    const n = Math.min(Math.max(0, Math.floor(count)), ID_BITS);
    const S = toBig(this.self.id);
    // Offsets from self, in BigInt once: start_i lies in (self, p] exactly when 2^i <= offset(p).
    const live = this.successors().map((p) => ({ p, off: offset(S, toBig(p.id)) }));
    for (let k = 0; k < n; k++) {
      const i = this.nextFinger;
      this.nextFinger = (this.nextFinger + 1) % ID_BITS;
      const step = 1n << BigInt(i);
      let f: PeerRef | null = null;
      if (live.length > 0) {
        f = live.find((s) => s.off >= step)?.p ?? null;
        const prev = i > 0 ? this.fingers[i - 1] : null;
        if (!f && prev && !this.failures.has(prev.id) && offset(S, toBig(prev.id)) >= step) f = prev;
        if (!f) {
          try {
            f = (await this.lookup(addPow2(this.self.id, i))).owner;
          } catch (err) {
            this.log.debug("finger lookup failed", { i, err: errorText(err) });
            continue;
          }
          if (f.id === this.self.id) f = null;
        }
      }
      if (this.fingers[i]?.id !== f?.id) {
        this.fingers[i] = f;
        this.routing = null;
      }
    }
  }

  private async rejoin(): Promise<void> {
    const candidates = new Map<string, PeerRef>();
    for (const p of [...this.known.values()].reverse()) candidates.set(p.id, p);
    for (const f of this.fingers) if (f) candidates.set(f.id, f);
    if (this.pred) candidates.set(this.pred.id, this.pred);
    candidates.delete(this.self.id);
    for (const p of candidates.values()) {
      try {
        await this.join(p);
        this.log.info("rejoined", { via: p.id });
        return;
      } catch (err) {
        this.log.debug("rejoin attempt failed", { via: p.id, err: errorText(err) });
        this.failure(p);
      }
    }
    this.log.warn("rejoin failed: no known peer answered");
  }

  // ---- lookup -------------------------------------------------------------------------------

  /** Iterative lookup of successor(key), starting from our own routing state. */
  /**
   * `confirm: false` skips the final round trip to the owner, for callers whose next request goes
   * to the owner anyway and is refused there if the owner disagrees (a put checks ownership on
   * arrival): the hop count then includes that request as the final contact.
   */
  async lookup(key: string, opts: { confirm?: boolean } = {}): Promise<LookupResult> {
    if (!isId(key)) throw new InputError("bad_key", "key must be 64 lowercase hex chars");
    if (!this.inRing) throw new Error("chord: not in a ring");
    return this.lookupFrom([], key, true, opts.confirm ?? true);
  }

  /**
   * The querier keeps every node it has heard of and always asks the live one that most closely
   * precedes the key. An answer whose successor list brackets the key names the owner: the first
   * entry at or after the key that answers and whose predecessor pointer agrees (earlier entries
   * precede the key, so when an owner is dead the next live entry inherits its keys). Dead peers
   * are skipped, not fatal; the owner's answer is the last hop.
   */
  private async lookupFrom(
    start: PeerRef[],
    key: string,
    useSelf: boolean,
    confirmOwner = true,
  ): Promise<LookupResult> {
    const path: string[] = [];
    const contacted = new Set<string>();
    const dead = new Set<string>();
    const pool = new Map<string, PeerRef>();
    let timeouts = 0;
    let owners: PeerRef[] | null = null;
    let fellBack = false;
    // The key is parsed once: per-candidate BigInt work dominates lookup cost in the simulation.
    const K = toBig(key);
    const keyIn = (a: string, b: string): boolean => {
      const A = toBig(a);
      const ab = offset(A, toBig(b));
      const ak = offset(A, K);
      return ab === 0n || (ak > 0n && ak <= ab); // key in (a, b]; (a, a] is the whole circle
    };
    const contactedRefs = new Map<string, PeerRef>();

    const consider = (at: PeerRef, res: ClosestResult) => {
      if (res.successors.length === 0) {
        owners = [at]; // a lone node owns the whole circle
        return;
      }
      const j = res.successors.findIndex((s) => keyIn(at.id, s.id));
      if (j >= 0) {
        owners = res.successors.slice(j);
      }
      // Kept even when the owner seems known: if every bracketing entry is dead we route on.
      for (const p of [...res.successors, ...res.closest])
        if (p.id !== this.self.id || useSelf) pool.set(p.id, p);
    };

    /**
     * The final contact: the candidate's predecessor pointer is the freshest view of who precedes
     * it (rectify updates it at join time, while other nodes' lists lag), so if that predecessor
     * sits at or after the key, the key belongs further back and we step back to it. Returns null
     * if the candidate is dead; a dead predecessor leaves the candidate as the owner.
     */
    const confirm = async (o: PeerRef): Promise<PeerRef | null> => {
      let cand = o;
      let fallback: PeerRef | null = null;
      for (let back = 0; back < MAX_LOOKUP_STEPS; back++) {
        let p: PeerRef | null;
        if (useSelf && cand.id === this.self.id) {
          p = this.pred;
        } else {
          try {
            p = parseNeighbors(await this.transport.call(cand, "chord.neighbors", {})).predecessor;
            this.success(cand);
            if (!contacted.has(cand.id)) path.push(cand.id);
            contacted.add(cand.id);
          } catch {
            this.failure(cand);
            dead.add(cand.id);
            timeouts++;
            return fallback;
          }
        }
        if (!p || p.id === cand.id || dead.has(p.id) || keyIn(p.id, cand.id)) return cand;
        fallback = cand;
        cand = p;
      }
      return fallback;
    };

    if (useSelf) {
      if (this.isResponsibleFor(key)) return { owner: { ...this.self }, hops: 0, path, timeouts };
      consider(this.self, {
        successors: this.answerList(),
        closest: this.closestPreceding(key, CLOSEST_IN_ANSWER),
      });
      contacted.add(this.self.id);
    }
    for (const p of start) pool.set(p.id, p);

    for (let step = 0; step < MAX_LOOKUP_STEPS; step++) {
      if (owners) {
        const list: PeerRef[] = owners;
        owners = null;
        for (const o of list) {
          if (dead.has(o.id)) continue;
          if (!confirmOwner && o.id !== this.self.id) {
            return {
              owner: { ...o },
              hops: path.length + (path.includes(o.id) ? 0 : 1),
              path: [...path, o.id],
              timeouts,
            };
          }
          const owner = await confirm(o);
          if (owner) return { owner: { ...owner }, hops: path.length, path, timeouts };
        }
        // Every bracketing entry is dead: the owner lies beyond that list; keep routing.
      }
      let best: PeerRef | null = null;
      let bestDist = 0n;
      for (const p of pool.values()) {
        // Peers we already suspect are left for the fallback below: a timeout costs far more than a hop.
        if (contacted.has(p.id) || dead.has(p.id) || this.failures.has(p.id)) continue;
        if (p.id === key) {
          best = p; // exactly at the key: it owns the key if it answers
          break;
        }
        const d = offset(toBig(p.id), K);
        if (best === null || d < bestDist) {
          best = p;
          bestDist = d;
        }
      }
      if (!best) {
        if (fellBack) break;
        fellBack = true;
        // Routing ran out (every closer candidate dead, or lists too short to bracket the key, as
        // when our own stale entry ends a list). The owner is the first live node at or after
        // the key, so try what we know in that order; confirm() walks back if one is too far.
        const known = [...pool.values(), ...contactedRefs.values()].filter(
          (p) => !dead.has(p.id) && (useSelf || p.id !== this.self.id),
        );
        known.sort((a, b) => {
          const da = offset(K, toBig(a.id));
          const db = offset(K, toBig(b.id));
          return da < db ? -1 : da > db ? 1 : 0;
        });
        owners = known;
        continue;
      }
      if (best.id === key) {
        owners = [best];
        continue;
      }
      try {
        const res = parseClosest(await this.transport.call(best, "chord.closestPreceding", { key }));
        this.success(best);
        contacted.add(best.id);
        contactedRefs.set(best.id, best);
        path.push(best.id);
        consider(best, res);
      } catch {
        this.failure(best);
        dead.add(best.id);
        timeouts++;
      }
    }
    throw new Error(
      `chord: lookup of ${key.slice(0, 16)} failed after ${path.length} hops, ${timeouts} timeouts`,
    );
  }

  /** Up to `n` live routing entries strictly between us and key, closest to the key first. */
  private closestPreceding(key: string, n: number): PeerRef[] {
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

  // ---- helpers ------------------------------------------------------------------------------

  /**
   * `head` (already in ring order) then the successor's list, cut where it wraps back to us (small
   * rings), deduplicated, at most r long.
   */
  private buildList(head: PeerRef[], tail: PeerRef[]): PeerRef[] {
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

  private success(p: PeerRef): void {
    const was = this.failures.delete(p.id);
    this.addKnownPeer(p);
    if (was && this.isNeighbor(p.id)) this.emitChanges();
  }

  private isNeighbor(id: string): boolean {
    return this.pred?.id === id || this.list.some((x) => x.id === id);
  }

  /** Counts one more consecutive failed request to p; returns the count. */
  private failure(p: PeerRef): number {
    const n = (this.failures.get(p.id) ?? 0) + 1;
    this.failures.delete(p.id);
    this.failures.set(p.id, n);
    if (this.failures.size > FAILURE_TABLE_MAX)
      this.failures.delete(this.failures.keys().next().value as string);
    this.known.delete(p.id);
    // A suspect successor stops being reported as one; listeners (replication) should know now.
    if (n === 1 && this.isNeighbor(p.id)) this.emitChanges();
    return n;
  }

  private emitChanges(): void {
    const succ = this.inRing ? this.successor() : null;
    const pred = this.pred;
    const list = this.successors();
    const key = (p: PeerRef | null) => (p ? `${p.id}@${p.addr}` : "");
    const now = {
      successor: key(succ),
      predecessor: key(pred),
      successors: list.map((p) => key(p)).join(","),
    };
    if (now.successor !== this.lastEmitted.successor) this.emit("successor", succ ? { ...succ } : null);
    if (now.predecessor !== this.lastEmitted.predecessor) this.emit("predecessor", pred ? { ...pred } : null);
    if (now.successors !== this.lastEmitted.successors) this.emit("successors", list);
    this.lastEmitted = now;
  }
}
