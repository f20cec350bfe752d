// Branches built by hand from the ledger's pure functions, block by block: the blocks a node mined
// before Merkle version 2 (which no code path mines any more), and blocks of any size for proofs
// without running a miner.
import { hashHeader, makeBlock, type Block, type BlockHeader } from "../../src/ledger/block.js";
import { targetForTier } from "../../src/ledger/difficulty.js";
import type { Identity } from "../../src/ledger/identity.js";
import { merkleRoot, type MerkleVersion } from "../../src/ledger/merkle.js";
import { buildRecord, normaliseChunk, type Chunk, type RecordDoc } from "../../src/ledger/record.js";
import { doubleSha256Hex } from "../../src/util/hash.js";

/** The easiest tier: every nonce meets it, so nothing is mined here. */
export const EASY = targetForTier(4);

/** The next block of `prev`'s branch, sealing `leaves` (the txIDs stored in `prev`). */
export function nextBlock(
  miner: Identity,
  prev: Block,
  leaves: string[],
  opts: { merkle?: MerkleVersion; timestamp?: number } = {},
): Block {
  const version = opts.merkle ?? 2;
  const header: BlockHeader = {
    height: prev.height + 1,
    prev: prev.hash,
    timestamp: opts.timestamp ?? prev.timestamp + 1000,
    miner: miner.id,
    target: EASY,
    nonce: 0,
    sealedRoot: merkleRoot(leaves, version),
  };
  if (version === 2) header.merkle = 2;
  return makeBlock(header, hashHeader(header), miner);
}

/** Signed records of `chunks` stored in `block`, at indexes from `first`. */
export function recordsIn(miner: Identity, block: Block, chunks: Chunk[], first = 0): RecordDoc[] {
  return chunks.map((c, i) => {
    const n = normaliseChunk(c);
    return buildRecord(n, doubleSha256Hex(n.canonical), block, first + i, miner);
  });
}
