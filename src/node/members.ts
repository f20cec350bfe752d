// Who is in the ring, as seen from this node: every member by walking successor lists (O(N / r)
// requests, no global state, tolerant of dead entries because each list names r successors), and
// the nodes that hold a key (its owner and the owner's successors).
import type { ChordNode } from "../chord/node.js";
import type { PeerRef } from "../chord/transport.js";
import type { PeerClient } from "./protocol/peer-client.js";

export async function walkRing(
  self: PeerRef,
  firstList: PeerRef[],
  fetchList: (p: PeerRef) => Promise<PeerRef[]>,
  max = 4096,
): Promise<PeerRef[]> {
  const seen = new Map<string, PeerRef>([[self.id, self]]);
  let frontier = firstList;
  while (seen.size < max) {
    const fresh = frontier.filter((p) => !seen.has(p.id));
    for (const p of fresh) seen.set(p.id, p);
    // The list wraps around to nodes already seen once the walk has gone all the way round.
    if (fresh.length === 0) break;
    let next: PeerRef[] | undefined;
    for (const p of [...fresh].reverse()) {
      try {
        next = await fetchList(p);
        break;
      } catch {
        // dead or slow: try the one before it
      }
    }
    if (!next) break;
    frontier = next;
  }
  return [...seen.values()];
}

/** Passes of the closure check; each finds the members the previous one's lists named. */
const CLOSURE_ROUNDS = 4;

export class RingMembers {
  constructor(private readonly components: { chord: ChordNode; client: PeerClient }) {}

  /**
   * Every member reachable by walking successor lists, this node included. The walk jumps r nodes
   * at a time, so a stale list (right after a merge, lists lag their first entry by a few rounds)
   * can hide members; a second pass asks every member found for its list, in parallel, until no
   * new member turns up.
   */
  async all(): Promise<PeerRef[]> {
    const { chord, client } = this.components;
    const list = (p: PeerRef) =>
      p.id === chord.self.id ? Promise.resolve(chord.successors()) : client.successorList(p);
    const found = new Map((await walkRing(chord.self, chord.successors(), list)).map((p) => [p.id, p]));
    let ask = [...found.values()];
    for (let round = 0; round < CLOSURE_ROUNDS && ask.length > 0; round++) {
      const lists = await Promise.all(ask.map((p) => list(p).catch(() => [])));
      ask = [];
      for (const p of lists.flat()) {
        if (found.has(p.id)) continue;
        found.set(p.id, p);
        ask.push(p);
      }
    }
    return [...found.values()];
  }

  /** The owner of a key and the successors that keep its replicas. */
  async holders(owner: PeerRef): Promise<PeerRef[]> {
    const { chord, client } = this.components;
    const out = [owner];
    try {
      out.push(
        ...(owner.id === chord.self.id ? chord.successors() : await client.successorList(owner)).slice(0, 4),
      );
    } catch {
      // the owner is down: its successor list from our side of the ring is the best guess
      out.push(...chord.successors().slice(0, 4));
    }
    return out;
  }
}
