// Merkle trees of a block's txIDs (in storage order) and of a checkpoint's branch heads.
//
// Both versions have the shape of RFC 6962's Merkle Tree Hash (the left subtree holds the largest
// power of two below n leaves). It is built like a Merkle mountain range (a stack of perfect
// subtree roots, bagged right to left), which gives exactly that shape and lets the miner keep the
// root of the block in use up to date in O(log n) per record instead of rehashing the whole block
// for each candidate header.
//
// Version 1 (blocks without a `merkle` field, checkpoints without one) hashed a node as
// dSHA256(leftHex + rightHex) and used the txID itself as the leaf: a leaf and an inner node were
// indistinguishable (merkleRoot([x]) === x, and an inner node could pass for a leaf). Version 2 is
// RFC 6962: leaf = SHA-256(0x00 || 32 txID bytes), node = SHA-256(0x01 || left || right), the
// empty tree is SHA-256(""). Old blocks keep verifying with version 1; new ones say `merkle: 2`.
import { createHash } from "node:crypto";
import { doubleSha256Hex } from "../util/hash.js";

export type MerkleVersion = 1 | 2;
/** What new blocks and checkpoints use. */
export const MERKLE_VERSION = 2;

/** Root of an empty version-1 tree (and genesis's sealedRoot, which never changes). */
export const EMPTY_ROOT = "0".repeat(64);

export interface MerkleHasher {
  readonly version: MerkleVersion;
  /** Leaf hash of one 32-byte value given as 64 hex digits. */
  leaf(hex: string): string;
  node(left: string, right: string): string;
  readonly empty: string;
}

const V1: MerkleHasher = {
  version: 1,
  leaf: (hex) => hex,
  node: (l, r) => doubleSha256Hex(l + r),
  empty: EMPTY_ROOT,
};

const LEAF = Buffer.from([0]);
const NODE = Buffer.from([1]);

const V2: MerkleHasher = {
  version: 2,
  leaf: (hex) => createHash("sha256").update(LEAF).update(Buffer.from(hex, "hex")).digest("hex"),
  node: (l, r) =>
    createHash("sha256")
      .update(NODE)
      .update(Buffer.from(l, "hex"))
      .update(Buffer.from(r, "hex"))
      .digest("hex"),
  empty: createHash("sha256").digest("hex"),
};

export function merkleHasher(version: MerkleVersion = MERKLE_VERSION): MerkleHasher {
  return version === 1 ? V1 : V2;
}

export class MerkleAccumulator {
  // peaks[i] covers 2^heights[i] leaves; heights strictly decrease along the array.
  private peaks: string[] = [];
  private heights: number[] = [];
  private readonly h: MerkleHasher;
  count = 0;

  constructor(version: MerkleVersion = MERKLE_VERSION) {
    this.h = merkleHasher(version);
  }

  add(leaf: string): void {
    let node = this.h.leaf(leaf);
    let height = 0;
    while (this.heights.length > 0 && this.heights[this.heights.length - 1] === height) {
      node = this.h.node(this.peaks.pop()!, node);
      this.heights.pop();
      height++;
    }
    this.peaks.push(node);
    this.heights.push(height);
    this.count++;
  }

  root(): string {
    if (this.peaks.length === 0) return this.h.empty;
    let acc = this.peaks[this.peaks.length - 1];
    for (let i = this.peaks.length - 2; i >= 0; i--) acc = this.h.node(this.peaks[i], acc);
    return acc;
  }
}

export function merkleRoot(leaves: Iterable<string>, version: MerkleVersion = MERKLE_VERSION): string {
  const m = new MerkleAccumulator(version);
  for (const l of leaves) m.add(l);
  return m.root();
}

/** Largest power of two strictly below n (n >= 2). */
function split(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

/**
 * RFC 6962 audit path (2.1.1) of leaf `index` among `leaves`: the sibling subtree roots from the
 * leaf up to the root. O(n) hashes.
 */
export function auditPath(
  leaves: readonly string[],
  index: number,
  version: MerkleVersion = MERKLE_VERSION,
): string[] {
  if (!Number.isSafeInteger(index) || index < 0 || index >= leaves.length) {
    throw new RangeError(`leaf ${index} outside a tree of ${leaves.length}`);
  }
  const h = merkleHasher(version);
  const hashed = leaves.map((l) => h.leaf(l));
  const mth = (from: number, to: number): string => {
    if (to - from === 1) return hashed[from];
    const k = split(to - from);
    return h.node(mth(from, from + k), mth(from + k, to));
  };
  const path: string[] = [];
  const walk = (m: number, from: number, to: number): void => {
    if (to - from === 1) return;
    const k = split(to - from);
    if (m < k) {
      walk(m, from, from + k);
      path.push(mth(from + k, to));
    } else {
      walk(m - k, from + k, to);
      path.push(mth(from, from + k));
    }
  };
  walk(index, 0, leaves.length);
  return path;
}

/**
 * The root an audit path leads to from a leaf value (RFC 9162 2.1.3.2), or null when the path
 * cannot belong to leaf `index` of a tree of `size` leaves (wrong length, index out of range).
 */
export function rootFromPath(
  leaf: string,
  index: number,
  size: number,
  path: readonly string[],
  version: MerkleVersion = MERKLE_VERSION,
): string | null {
  if (!Number.isSafeInteger(index) || !Number.isSafeInteger(size) || index < 0 || index >= size) return null;
  const h = merkleHasher(version);
  let fn = index;
  let sn = size - 1;
  let r = h.leaf(leaf);
  for (const p of path) {
    if (sn === 0) return null;
    if (fn % 2 === 1 || fn === sn) {
      r = h.node(p, r);
      while (fn % 2 === 0 && fn !== 0) {
        fn = Math.floor(fn / 2);
        sn = Math.floor(sn / 2);
      }
    } else {
      r = h.node(r, p);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 ? r : null;
}
