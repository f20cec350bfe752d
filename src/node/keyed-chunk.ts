// Validates a chunk once, at the edge, and computes its data key there: the key decides routing,
// so bad input must fail before anything is sent over the ring.
import { normaliseChunk, type Chunk } from "../ledger/record.js";
import { doubleSha256Hex } from "../util/hash.js";
import { InputError } from "../util/errors.js";

export interface KeyedChunk {
  source: string;
  timestamp: number;
  value: unknown;
  key: string;
}

export function keyedChunk(input: unknown): KeyedChunk {
  if (typeof input !== "object" || input === null)
    throw new InputError("bad_chunk", "chunk must be an object");
  const n = normaliseChunk(input as Chunk);
  return { source: n.source, timestamp: n.timestamp, value: n.value, key: doubleSha256Hex(n.canonical) };
}
