// Finds every ring member by walking successor lists: O(N / r) requests, no global state, and it
// tolerates dead entries because each list names r successors.
import type { PeerRef } from "../chord/transport.js";

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
