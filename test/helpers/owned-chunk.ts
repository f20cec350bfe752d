// A chunk whose key falls to a chosen node: successor(key) among the ring's ids, computed the way
// the node computes it, so a test puts one chunk to reach that node instead of putting until a
// random key happens to land there (a node with a small arc may get none of dozens).
import { keyedChunk, type KeyedChunk } from "../../src/node/keyed-chunk.js";

export function ownerOf(ids: string[], key: string): string {
  const sorted = [...ids].sort();
  return sorted.find((id) => id >= key) ?? sorted[0];
}

export function chunkOwnedBy(
  ids: string[],
  target: string,
  make: (timestamp: number) => { source: string; value: unknown },
): KeyedChunk {
  for (let ts = Date.now(); ; ts++) {
    const c = keyedChunk({ ...make(ts), timestamp: ts });
    if (ownerOf(ids, c.key) === target) return c;
  }
}
