// Virtual Block headers, hashing and signatures. A block is exported and stored as a flat JSON-LD
// document; the header fields alone (not hash, signature or minerKey) are what the hash covers.
import { doubleSha256Hex } from "../util/hash.js";
import { canonicalJsonTrusted } from "./canonical.js";
import { LEDGER_CONTEXT_URL } from "./context.js";
import { meetsTarget } from "./difficulty.js";
import { Identity, nodeIdOf } from "./identity.js";
import { HEX64 } from "../util/hex.js";
import { MERKLE_VERSION, type MerkleVersion } from "./merkle.js";

export interface NetworkDescriptor {
  name: string;
  adminPublicKey: string;
}

export interface BlockHeader {
  height: number;
  prev: string;
  timestamp: number;
  miner: string;
  target: string;
  nonce: number;
  /** Merkle root of the records stored in the previous block: this block seals them. */
  sealedRoot: string;
  /**
   * How sealedRoot is computed (merkle.ts): 2 (RFC 6962) in every block mined since it was
   * introduced; absent in older blocks and genesis, which keep version 1.
   */
  merkle?: typeof MERKLE_VERSION;
  /** Genesis only: the network the chain belongs to. */
  network?: NetworkDescriptor;
}

export interface Block extends BlockHeader {
  "@context": string;
  "@type": "Block";
  hash: string;
  /** Ed25519 signature of `hash` by the miner; "" for genesis, which nobody mines. */
  signature: string;
  minerKey: string;
}

export const ZERO_HASH = "0".repeat(64);

export function headerOf(b: BlockHeader): BlockHeader {
  const h: BlockHeader = {
    height: b.height,
    prev: b.prev,
    timestamp: b.timestamp,
    miner: b.miner,
    target: b.target,
    nonce: b.nonce,
    sealedRoot: b.sealedRoot,
  };
  if (b.merkle !== undefined) h.merkle = b.merkle;
  if (b.network !== undefined) h.network = { name: b.network.name, adminPublicKey: b.network.adminPublicKey };
  return h;
}

/** RFC 8785 bytes of a header. Mined headers take a hand-ordered fast path: the miner hashes it
 * thousands of times a second and the generic serialiser is ~10x slower. */
export function headerCanonical(h: BlockHeader): string {
  if (h.network !== undefined) return canonicalJsonTrusted(headerOf(h));
  return headerPrefix(h) + h.nonce + headerSuffix(h);
}

// Keys in RFC 8785 order: height, merkle, miner, nonce, prev, sealedRoot, target, timestamp.
export function headerPrefix(h: Omit<BlockHeader, "nonce" | "timestamp">): string {
  const merkle = h.merkle === undefined ? "" : `"merkle":${JSON.stringify(h.merkle)},`;
  return `{"height":${JSON.stringify(h.height)},${merkle}"miner":${JSON.stringify(h.miner)},"nonce":`;
}

/** The Merkle rule a block's sealedRoot follows. */
export function merkleVersionOf(h: Pick<BlockHeader, "merkle">): MerkleVersion {
  return h.merkle === undefined ? 1 : h.merkle;
}

export function headerSuffix(h: Omit<BlockHeader, "nonce">): string {
  const s = JSON.stringify;
  return `,"prev":${s(h.prev)},"sealedRoot":${s(h.sealedRoot)},"target":${s(h.target)},"timestamp":${s(h.timestamp)}}`;
}

export function hashHeader(h: BlockHeader): string {
  return doubleSha256Hex(headerCanonical(h));
}

export function makeBlock(h: BlockHeader, hash: string, identity: Identity | null): Block {
  return {
    "@context": LEDGER_CONTEXT_URL,
    "@type": "Block",
    ...headerOf(h),
    hash,
    signature: identity ? identity.sign(hash) : "",
    minerKey: identity ? identity.publicKeyHex : "",
  };
}

/**
 * Checks one mined (non-genesis) block on its own: shape, hash, proof of work, miner id and
 * signature. Linkage to the previous block is the caller's job. Returns null or what failed.
 */
export function verifyBlock(b: Block): string | null {
  if (typeof b !== "object" || b === null) return "block is not an object";
  if (b["@type"] !== "Block") return "@type is not Block";
  if (!Number.isSafeInteger(b.height) || b.height < 1) return "bad height";
  if (!Number.isSafeInteger(b.nonce) || b.nonce < 0) return "bad nonce";
  if (!Number.isSafeInteger(b.timestamp) || b.timestamp < 0) return "bad timestamp";
  for (const f of ["prev", "miner", "target", "sealedRoot", "hash", "minerKey"] as const) {
    if (typeof b[f] !== "string" || !HEX64.test(b[f])) return `bad ${f}`;
  }
  if (b.merkle !== undefined && b.merkle !== MERKLE_VERSION) return "unknown merkle version";
  if (b.network !== undefined) return "only genesis names a network";
  if (hashHeader(b) !== b.hash) return "hash does not match header";
  if (!meetsTarget(b.hash, b.target)) return "hash above target";
  if (nodeIdOf(b.minerKey) !== b.miner) return "miner is not sha256(minerKey)";
  if (!Identity.verify(b.minerKey, b.hash, b.signature)) return "bad block signature";
  return null;
}
