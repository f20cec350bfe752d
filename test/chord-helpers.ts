// Shared by the ring tests: nodes over one MemoryNetwork, and the brute-force truth (sorted ids)
// that every node's view is checked against.
import { toBig } from "../src/chord/id.js";
import { MemoryNetwork } from "../src/chord/memory-transport.js";
import { ChordNode, type ChordNodeOptions } from "../src/chord/node.js";
import type { ChordTransport } from "../src/chord/transport.js";
import { sha256Hex } from "../src/util/hash.js";

export function makeNodes(
  n: number,
  tag: string,
  r?: number,
  opts: Partial<ChordNodeOptions> = {},
  wrap: (t: ChordTransport, id: string) => ChordTransport = (t) => t,
): { net: MemoryNetwork; nodes: ChordNode[] } {
  const net = new MemoryNetwork();
  const nodes: ChordNode[] = [];
  for (let i = 0; i < n; i++) {
    const id = sha256Hex(`${tag}-${i}`);
    const node = new ChordNode({
      ...opts,
      self: { id, addr: `mem:${tag}:${i}` },
      transport: wrap(net.transport(id), id),
      successorListLength: r,
    });
    net.register(node);
    nodes.push(node);
  }
  return { net, nodes };
}

export const sortedIds = (nodes: ChordNode[]) => nodes.map((n) => n.self.id).sort();

export function ownerOf(ids: string[], key: string): string {
  return ids.find((id) => toBig(id) >= toBig(key)) ?? ids[0];
}

export function wrongSuccessors(nodes: ChordNode[]): number {
  const ids = sortedIds(nodes);
  return nodes.filter((n) => n.successor().id !== ids[(ids.indexOf(n.self.id) + 1) % ids.length]).length;
}

export function wrongPredecessors(nodes: ChordNode[]): number {
  const ids = sortedIds(nodes);
  const m = ids.length;
  return nodes.filter((n) => n.predecessor()?.id !== ids[(ids.indexOf(n.self.id) - 1 + m) % m]).length;
}

export function wrongLists(nodes: ChordNode[], r: number): number {
  const ids = sortedIds(nodes);
  const want = Math.min(r, ids.length - 1);
  return nodes.filter((n) => {
    const l = n.rawSuccessorList();
    const at = ids.indexOf(n.self.id);
    return l.length !== want || l.some((p, i) => p.id !== ids[(at + i + 1) % ids.length]);
  }).length;
}

export async function round(nodes: ChordNode[]): Promise<void> {
  await Promise.all(nodes.map((n) => n.tick()));
}

/** Rounds until successors, predecessors and lists are all right; -1 if not within `max`. */
export async function roundsToConverge(nodes: ChordNode[], r: number, max: number): Promise<number> {
  for (let k = 0; k <= max; k++) {
    if (wrongSuccessors(nodes) === 0 && wrongPredecessors(nodes) === 0 && wrongLists(nodes, r) === 0)
      return k;
    await round(nodes);
  }
  return -1;
}
