// The periodic repair that keeps one member's routing state right (Zave's corrected Chord):
// check_predecessor, stabilize (skip dead successors, adopt the successor's predecessor only when
// it is live and strictly between, then rectify), fix_fingers, and rejoin when the whole successor
// list is gone. Failure detection is the Flowchain paper's CHECK_SUCCESSOR with a TTL (section
// 5.3): a peer is dropped only after `ttl` consecutive failed requests, so one lost reply does not
// evict a live successor and move its keys around.
import type { Logger } from "../log.js";
import { errorText } from "../util/errors.js";
import { ID_BITS, addPow2, between, offset, toBig } from "./id.js";
import type { LookupResult } from "./lookup.js";
import type { RoutingState } from "./routing-state.js";
import type { ChordTransport, PeerRef } from "./transport.js";
import { parseNeighbors, parsePing, parseRectify, type NeighborsResult } from "./wire.js";

export interface MaintenanceComponents {
  state: RoutingState;
  transport: ChordTransport;
  /** Finds successor(key) from our own routing state (fix_fingers). */
  lookup(key: string): Promise<LookupResult>;
  /** Joins the ring through `via` (rejoin). */
  join(via: PeerRef): Promise<void>;
  /** Ring unification, run after the rest of each round (ring-merge.ts); none in part tests. */
  merge?: { tick(): Promise<unknown> };
  log: Logger;
}

export interface MaintenanceInit {
  /** Consecutive failed requests before a peer is dropped. */
  ttl: number;
}

export class Maintenance {
  private readonly state: RoutingState;
  private readonly transport: ChordTransport;
  private readonly components: MaintenanceComponents;
  private readonly log: Logger;
  private readonly ttl: number;
  /** fix_fingers' rolling index. */
  private nextFinger = 0;
  private timer: NodeJS.Timeout | null = null;
  private ticking = false;

  constructor(components: MaintenanceComponents, init: MaintenanceInit) {
    this.components = components;
    this.state = components.state;
    this.transport = components.transport;
    this.log = components.log;
    this.ttl = init.ttl;
  }

  /**
   * One round: rejoin if cut off, else check_predecessor, stabilize, fix_fingers and at most one
   * ring-merge probe; then announce the member book if it changed.
   */
  async tick(): Promise<void> {
    try {
      if (!this.state.isInRing()) {
        if (this.state.hasEverJoined()) await this.rejoin();
        return;
      }
      await this.checkPredecessor();
      await this.stabilize();
      await this.fixFingers();
      await this.components.merge?.tick();
    } finally {
      // At most once a round, however many members came and went during it.
      this.state.emitBook();
    }
  }

  /** Ticks every intervalMs; a round still running when the next is due is not overlapped. */
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
    const state = this.state;
    const p = state.storedPredecessor();
    if (!p) return;
    try {
      parsePing(await this.transport.call(p, "chord.ping", {}), p);
      state.success(p);
    } catch {
      if (state.failure(p) >= this.ttl && state.storedPredecessor()?.id === p.id) {
        this.log.info("predecessor dropped", { peer: p.id });
        state.setPredecessor(null);
        state.emitChanges();
      }
    }
  }

  async stabilize(): Promise<void> {
    const state = this.state;
    const self = state.self;
    if (!state.isInRing()) return;
    if (state.storedList().length === 0) {
      // Alone until someone rectified us: in Zave's one-node ring that node is our successor too.
      const pred = state.storedPredecessor();
      if (pred && pred.id !== self.id) state.setList([pred]);
      else return;
    }
    let i = 0;
    let s: PeerRef | null = null;
    let nb: NeighborsResult | null = null;
    while (i < state.storedList().length) {
      const e = state.storedList()[i];
      try {
        nb = parseNeighbors(await this.transport.call(e, "chord.neighbors", {}));
        state.success(e);
        s = e;
        break;
      } catch {
        if (state.failure(e) >= this.ttl) {
          this.log.info("successor dropped", { peer: e.id });
          state.setList(state.storedList().filter((x) => x.id !== e.id));
        } else {
          i++; // suspect: keep it in place, skip it this round
        }
      }
    }
    if (!s || !nb) {
      state.emitChanges();
      if (state.storedList().length === 0) {
        this.log.warn("whole successor list dead: rejoining");
        state.leaveRing();
        await this.rejoin();
      }
      return;
    }
    const suspects = state.storedList().slice(0, i);
    // Adopt the successor's predecessor only if it answers (a dead one would cut us off), and keep
    // walking predecessor pointers while they stay strictly between: after many joins into one gap
    // this settles us in one round instead of moving one node closer per round.
    for (let walk = 0; walk < 2 * state.r; walk++) {
      const p: PeerRef | null = nb.predecessor;
      if (!p || p.id === self.id || !between(self.id, p.id, s.id)) break;
      try {
        const pnb = parseNeighbors(await this.transport.call(p, "chord.neighbors", {}));
        state.success(p);
        s = p;
        nb = pnb;
      } catch {
        state.failure(p);
        break;
      }
    }
    // Suspects stay listed (until ttl) only where they still precede the successor we settled on.
    const adopt = (succ: PeerRef, res: NeighborsResult) => {
      const head = suspects.filter((x) => between(self.id, x.id, succ.id));
      state.setList(state.buildList([...head, succ], res.successors));
      state.emitChanges();
    };
    adopt(s, nb);
    // Rectify answers with the successor's predecessor afterwards. If that is a live node strictly
    // between us (we lost to a closer rectifier, as when many join one gap at once), move to it
    // and rectify there too, instead of waiting a round per step.
    for (let walk = 0; walk < 2 * state.r; walk++) {
      let hint: PeerRef | null;
      try {
        hint = parseRectify(await this.transport.call(s, "chord.rectify", {}));
      } catch {
        state.failure(s);
        break;
      }
      if (!hint || hint.id === self.id || !between(self.id, hint.id, s.id)) break;
      try {
        nb = parseNeighbors(await this.transport.call(hint, "chord.neighbors", {}));
        state.success(hint);
      } catch {
        state.failure(hint);
        break;
      }
      s = hint;
      adopt(s, nb);
    }
    await this.recheckListedSuspects(s);
  }

  /**
   * Entries behind the successor come from its list, yet we may still hold an old failure against
   * one (it was across a partition that has healed since): such a suspect is left out of what we
   * answer and route through, and nothing else would ever contact it again. Ping it: an answer
   * clears it; another failure only adds to its count (the successor's list brings it back
   * until the successor itself drops it).
   */
  private async recheckListedSuspects(succ: PeerRef): Promise<void> {
    const state = this.state;
    const behind = state
      .storedList()
      .filter((p) => p.id !== succ.id && state.isSuspect(p.id) && between(state.self.id, succ.id, p.id));
    for (const p of behind) {
      try {
        parsePing(await this.transport.call(p, "chord.ping", {}), p);
        state.success(p);
      } catch {
        state.failure(p);
      }
    }
  }

  /**
   * Refreshes `count` finger entries from a rolling index. Finger i is successor(self + 2^i); when
   * that start falls before a known successor or before finger i-1's node, the answer is known
   * without a lookup, so a full pass costs about log2(N / r) lookups, not 256.
   */
  async fixFingers(count: number = ID_BITS): Promise<void> {
    const state = this.state;
    if (!state.isInRing()) return;
    const n = Math.min(Math.max(0, Math.floor(count)), ID_BITS);
    const S = toBig(state.self.id);
    // Offsets from self, in BigInt once: start_i lies in (self, p] exactly when 2^i <= offset(p).
    const live = state.successors().map((p) => ({ p, off: offset(S, toBig(p.id)) }));
    for (let k = 0; k < n; k++) {
      const i = this.nextFinger;
      this.nextFinger = (this.nextFinger + 1) % ID_BITS;
      const step = 1n << BigInt(i);
      let f: PeerRef | null = null;
      if (live.length > 0) {
        f = live.find((s) => s.off >= step)?.p ?? null;
        const prev = i > 0 ? state.finger(i - 1) : null;
        if (!f && prev && !state.isSuspect(prev.id) && offset(S, toBig(prev.id)) >= step) f = prev;
        if (!f) {
          try {
            f = (await this.components.lookup(addPow2(state.self.id, i))).owner;
          } catch (err) {
            this.log.debug("finger lookup failed", { i, err: errorText(err) });
            continue;
          }
          if (f.id === state.self.id) f = null;
        }
      }
      state.setFinger(i, f);
    }
  }

  /** Cut off: join again through a member we know, those that last answered first, newest first. */
  private async rejoin(): Promise<void> {
    const state = this.state;
    const candidates = new Map<string, PeerRef>();
    for (const p of state.knownPeers()) candidates.set(p.id, p);
    for (const f of state.fingerRefs()) candidates.set(f.id, f);
    const pred = state.storedPredecessor();
    if (pred) candidates.set(pred.id, pred);
    candidates.delete(state.self.id);
    for (const p of candidates.values()) {
      try {
        await this.components.join(p);
        this.log.info("rejoined", { via: p.id });
        return;
      } catch (err) {
        this.log.debug("rejoin attempt failed", { via: p.id, err: errorText(err) });
        state.failure(p);
      }
    }
    // Nobody let us in (they are gone, or cut off like us and not in a ring to join). Waiting cut
    // off would deadlock two such nodes forever; as a ring of one, the member book's probes find
    // the others and the rings merge.
    this.log.warn(
      "rejoin failed: no known peer answered; continuing as a ring of one until a probe finds one",
    );
    state.enterRing([]);
  }
}
