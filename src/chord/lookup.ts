// Iterative lookup of successor(key): the querier keeps every node it has heard of and always asks
// the live one that most closely precedes the key, routes around dead or junk-answering peers,
// and confirms the owner with the owner's own predecessor pointer.
import { InputError } from "../util/errors.js";
import { isId, offset, toBig } from "./id.js";
import type { RoutingState } from "./routing-state.js";
import type { ChordTransport, PeerRef } from "./transport.js";
import { parseClosest, parseNeighbors, type ClosestResult } from "./wire.js";

export interface LookupResult {
  owner: PeerRef;
  /** Remote nodes that answered, the owner included (the owner's confirmation is the last hop). */
  hops: number;
  path: string[];
  /** Requests that failed on the way (dead or junk-answering peers routed around). */
  timeouts: number;
}

export interface LookupComponents {
  state: RoutingState;
  transport: ChordTransport;
}

/** How many closest-preceding candidates an answer carries: spares to route around dead ones. */
export const CLOSEST_IN_ANSWER = 4;
/** A lookup that has not converged after this many contacts is abandoned (ring badly broken). */
const MAX_LOOKUP_STEPS = 96;

export class Lookup {
  private readonly state: RoutingState;
  private readonly transport: ChordTransport;

  constructor(components: LookupComponents) {
    this.state = components.state;
    this.transport = components.transport;
  }

  /**
   * Iterative lookup of successor(key), starting from our own routing state.
   * `confirm: false` skips the final round trip to the owner, for callers whose next request goes
   * to the owner anyway and is refused there if the owner disagrees (a put checks ownership on
   * arrival): the hop count then includes that request as the final contact.
   */
  async lookup(key: string, opts: { confirm?: boolean } = {}): Promise<LookupResult> {
    if (!isId(key)) throw new InputError("bad_key", "key must be 64 lowercase hex chars");
    if (!this.state.isInRing()) throw new Error("chord: not in a ring");
    return this.lookupFrom([], key, true, opts.confirm ?? true);
  }

  /**
   * The querier keeps every node it has heard of and always asks the live one that most closely
   * precedes the key. An answer whose successor list brackets the key names the owner: the first
   * entry at or after the key that answers and whose predecessor pointer agrees (earlier entries
   * precede the key, so when an owner is dead the next live entry inherits its keys). Dead peers
   * are skipped, not fatal; the owner's answer is the last hop. With `useSelf` false (a join) our
   * own state is neither consulted nor a possible answer: routing starts at `start`.
   */
  async lookupFrom(
    start: PeerRef[],
    key: string,
    useSelf: boolean,
    confirmOwner = true,
  ): Promise<LookupResult> {
    const state = this.state;
    const self = state.self;
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
      for (const p of [...res.successors, ...res.closest]) if (p.id !== self.id || useSelf) pool.set(p.id, p);
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
        if (useSelf && cand.id === self.id) {
          p = state.storedPredecessor();
        } else {
          try {
            p = parseNeighbors(await this.transport.call(cand, "chord.neighbors", {})).predecessor;
            state.success(cand);
            if (!contacted.has(cand.id)) path.push(cand.id);
            contacted.add(cand.id);
          } catch {
            state.failure(cand);
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
      if (state.isResponsibleFor(key)) return { owner: { ...self }, hops: 0, path, timeouts };
      consider(self, {
        successors: state.answerList(),
        closest: state.closestPreceding(key, CLOSEST_IN_ANSWER),
      });
      contacted.add(self.id);
    }
    for (const p of start) pool.set(p.id, p);

    for (let step = 0; step < MAX_LOOKUP_STEPS; step++) {
      if (owners) {
        const list: PeerRef[] = owners;
        owners = null;
        for (const o of list) {
          if (dead.has(o.id)) continue;
          if (!confirmOwner && o.id !== self.id) {
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
        if (contacted.has(p.id) || dead.has(p.id) || state.isSuspect(p.id)) continue;
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
          (p) => !dead.has(p.id) && (useSelf || p.id !== self.id),
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
        state.success(best);
        contacted.add(best.id);
        contactedRefs.set(best.id, best);
        path.push(best.id);
        consider(best, res);
      } catch {
        state.failure(best);
        dead.add(best.id);
        timeouts++;
      }
    }
    throw new Error(
      `chord: lookup of ${key.slice(0, 16)} failed after ${path.length} hops, ${timeouts} timeouts`,
    );
  }
}
