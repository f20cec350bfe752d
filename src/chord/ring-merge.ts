// Ring unification: finds members of another ring and zips the two rings into one (issue 10).
// Zave's maintenance keeps one ring correct but never looks outside it, so two rings formed during
// a network partition (or by nodes that all created a ring alone after a restart) stay apart
// forever. This follows Shafaat, Ghodsi and Haridi ("Handling Network Partitions and Mergers in
// Structured Overlay Networks", IEEE P2P 2007): a passive list of members that stopped answering
// (member-book.ts) is probed now and then; a probe is their mlookup, and what we do with its answer
// is their trymerge, adapted to Zave's pull-based maintenance:
//
//   probe q (at most one per round: every `probeEvery` rounds on average, every round while alone
//   or while hints wait): look up successor(self + 1) starting from q only, so the lookup runs in
//   q's ring. Call the answer s.
//   - s strictly between us and our successor: s is a closer successor we did not know (another
//     ring, or a newcomer not yet stabilized). Adopt it (its list merged into ours in ring order),
//     rectify it, and hint our old successor to check s's ring for itself (the zip goes forward).
//   - s's predecessor b strictly between our predecessor and us: b is a closer predecessor in the
//     other ring that does not know us. Hint b to probe us (the zip goes backward).
//   A hint (chord.merge) only makes the receiver probe the named member soon; nothing is adopted
//   without a live answer, and only a live node strictly closer than the current successor is.
//
// Every step only ever moves a successor closer, so it never undoes stabilize and never creates a
// loop; stabilize and rectify then settle lists and predecessors as after a burst of joins. With
// every node probing (the far side is in most members' books) the zips run in parallel.
import type { Logger } from "../log.js";
import { errorText } from "../util/errors.js";
import { between, distance, fromBig, toBig } from "./id.js";
import type { LookupResult } from "./lookup.js";
import type { RoutingState } from "./routing-state.js";
import type { ChordTransport, PeerRef } from "./transport.js";
import { parseNeighbors } from "./wire.js";

export interface RingMergeComponents {
  state: RoutingState;
  transport: ChordTransport;
  /** Lookup of successor(key) starting from `start` only, never from our own state. */
  lookupVia(start: PeerRef, key: string): Promise<LookupResult>;
  /** Probe scheduling jitter, in [0, 1). */
  random: () => number;
  log: Logger;
}

export interface RingMergeInit {
  /** Mean rounds between two probes of a settled node (alone or hinted: every round). */
  probeEvery: number;
}

export interface ProbeOutcome {
  probed: PeerRef;
  /** successor(self + 1) as q's ring sees it; null when the probe failed. */
  found: PeerRef | null;
  /** A closer successor was adopted. */
  adopted: boolean;
  /** Hints sent (to our old successor, to a closer predecessor). */
  hints: number;
}

export class RingMerge {
  private readonly state: RoutingState;
  private readonly transport: ChordTransport;
  private readonly components: RingMergeComponents;
  private readonly log: Logger;
  private readonly probeEvery: number;
  private round = 0;
  private nextProbe = 0;

  constructor(components: RingMergeComponents, init: RingMergeInit) {
    this.components = components;
    this.state = components.state;
    this.transport = components.transport;
    this.log = components.log;
    this.probeEvery = init.probeEvery;
    this.nextProbe = this.jitter();
  }

  /** One round's share: probes one member when one is due. */
  async tick(): Promise<ProbeOutcome | null> {
    const state = this.state;
    this.round++;
    if (!state.isInRing()) return null;
    // Suspects do not count: a list of nodes that stopped answering (the far side of a partition,
    // and with it a partner also cut off) leaves this node as alone as an empty one, and the
    // suspects must stay probe candidates or two such nodes never meet.
    const live = state.successors();
    const alone = live.length === 0;
    if (!alone && !state.book.hasUrgent() && this.round < this.nextProbe) return null;
    const exclude = new Set(live.map((p) => p.id));
    const pred = state.storedPredecessor();
    // Alone, stabilize has no successor to learn the predecessor from: probe it like anyone else,
    // or two lone nodes that are each other's predecessor never meet.
    if (pred && !alone) exclude.add(pred.id);
    const q = state.book.nextProbe(this.round, exclude, alone);
    if (!q) return null;
    this.nextProbe = this.round + this.jitter();
    const out = await this.probe(q);
    // Something to merge: the other ring is there and reachable, so keep probing every round.
    if (out.adopted || out.hints > 0) this.nextProbe = this.round + 1;
    return out;
  }

  /** mlookup + trymerge for one member q (see the top of the file). */
  async probe(q: PeerRef): Promise<ProbeOutcome> {
    const state = this.state;
    const self = state.self;
    const out: ProbeOutcome = { probed: q, found: null, adopted: false, hints: 0 };
    let s: PeerRef;
    try {
      s = (await this.components.lookupVia(q, fromBig(toBig(self.id) + 1n))).owner;
    } catch (err) {
      // A lookup through q can fail on q's stale routing (fingers into the far side of a
      // partition) while q itself answers. Alone, q answering is enough: q is a closer successor
      // than none, so merge with q itself.
      const alone = state.successors().length === 0;
      const direct = alone
        ? await this.transport.call(q, "chord.neighbors", {}).then(
            () => true,
            () => false,
          )
        : false;
      if (!direct) {
        this.log.debug("merge probe failed", { peer: q.id, err: errorText(err) });
        state.book.probeFailed(q, this.round);
        return out;
      }
      s = q;
    }
    out.found = s;
    // The closest live successor: a suspect (the far side of a partition) is no successor to stay
    // with, or two nodes cut off together each keep a dead one "closer" than the other forever.
    const succ = state.successors()[0] ?? self;
    if (s.id === self.id || s.id === succ.id) return out; // one ring, as far as this probe tells
    let nb;
    try {
      nb = parseNeighbors(await this.transport.call(s, "chord.neighbors", {}));
      state.success(s);
    } catch {
      state.failure(s);
      return out;
    }
    if (succ.id === self.id || between(self.id, s.id, succ.id)) {
      const old = succ.id === self.id ? null : succ;
      state.setList(this.mergeLists([s, ...nb.successors], state.rawSuccessorList()));
      state.emitChanges();
      out.adopted = true;
      this.log.info("merge: closer successor from another ring", { via: q.id, successor: s.id });
      try {
        await this.transport.call(s, "chord.rectify", {});
      } catch {
        state.failure(s);
      }
      if (old && old.id !== s.id && (await this.hint(old, s))) out.hints++;
    }
    const b = nb.predecessor;
    const p = state.storedPredecessor();
    if (b && b.id !== self.id && (p === null || between(p.id, b.id, self.id)) && (await this.hint(b, self)))
      out.hints++;
    return out;
  }

  /** Both lists' members in ring order from us, deduplicated, at most r. */
  private mergeLists(a: PeerRef[], b: PeerRef[]): PeerRef[] {
    const self = this.state.self.id;
    const m = new Map<string, { p: PeerRef; d: bigint }>();
    for (const p of [...a, ...b])
      if (p.id !== self) m.set(p.id, { p: { id: p.id, addr: p.addr }, d: distance(self, p.id) });
    return [...m.values()]
      .sort((x, y) => (x.d < y.d ? -1 : x.d > y.d ? 1 : 0))
      .slice(0, this.state.r)
      .map((x) => x.p);
  }

  /** Tells `to` about `peer` (chord.merge): best effort, a failure only counts against `to`. */
  private async hint(to: PeerRef, peer: PeerRef): Promise<boolean> {
    try {
      await this.transport.call(to, "chord.merge", { peer });
      return true;
    } catch (err) {
      this.log.debug("merge hint failed", { to: to.id, err: errorText(err) });
      this.state.failure(to);
      return false;
    }
  }

  /** Rounds to the next probe: uniform in [probeEvery / 2, 3 probeEvery / 2], at least 1. */
  private jitter(): number {
    return Math.max(1, Math.round(this.probeEvery * (0.5 + this.components.random())));
  }
}
