// Merkle root of the txIDs stored in one block, in storage order. Built like a Merkle mountain
// range (a stack of perfect subtree roots, bagged right to left) so the miner can keep the root of
// the block in use up to date in O(log n) per record instead of rehashing the whole block for each
// candidate header.
import { doubleSha256Hex } from "../util/hash.js";

export const EMPTY_ROOT = "0".repeat(64);

function parent(left: string, right: string): string {
  return doubleSha256Hex(left + right);
}

export class MerkleAccumulator {
  // peaks[i] covers 2^heights[i] leaves; heights strictly decrease along the array.
  private peaks: string[] = [];
  private heights: number[] = [];
  count = 0;

  add(leaf: string): void {
    let node = leaf;
    let h = 0;
    while (this.heights.length > 0 && this.heights[this.heights.length - 1] === h) {
      node = parent(this.peaks.pop()!, node);
      this.heights.pop();
      h++;
    }
    this.peaks.push(node);
    this.heights.push(h);
    this.count++;
  }

  root(): string {
    if (this.peaks.length === 0) return EMPTY_ROOT;
    let acc = this.peaks[this.peaks.length - 1];
    for (let i = this.peaks.length - 2; i >= 0; i--) acc = parent(this.peaks[i], acc);
    return acc;
  }
}

export function merkleRoot(leaves: Iterable<string>): string {
  const m = new MerkleAccumulator();
  for (const l of leaves) m.add(l);
  return m.root();
}
