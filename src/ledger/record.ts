// Records (paper Listing 4): a chunk {source, timestamp, value} becomes a signed JSON-LD
// Transaction document.
//   key  = SHA-256(SHA-256(canonical chunk))            (lowercase hex)
//   txID = SHA-256(SHA-256(blockHash + key))             (the two hex strings concatenated)
//   signature = Ed25519 over the canonical document without `signature`
import { doubleSha256Hex } from "../util/hash.js";
import { InputError } from "../util/errors.js";
import { assertJson, canonicalJsonTrusted } from "./canonical.js";
import { LEDGER_CONTEXT_URL, isLedgerContext } from "./context.js";
import { Identity, nodeIdOf } from "./identity.js";
import { HEX64 } from "../util/hex.js";
import { normaliseTimestamp } from "./timestamp.js";

export { MAX_CLOCK_SKEW_MS, normaliseTimestamp } from "./timestamp.js";

/**
 * Largest accepted chunk: 64 KiB of canonical JSON. A record is signed, stored in four indexes and
 * replicated over the ring, so chunks are meant to be readings, not files; bigger payloads belong
 * in several chunks.
 */
export const MAX_CHUNK_BYTES = 64 * 1024;
export const MAX_SOURCE_LENGTH = 256;

export interface Chunk {
  source: string;
  timestamp: number | string;
  value: unknown;
}

export interface NormalChunk {
  source: string;
  timestamp: number;
  value: unknown;
  /** Canonical JSON of {source, timestamp, value}. */
  canonical: string;
  /** Canonical JSON of value alone, reused when signing. */
  canonicalValue: string;
}

export type RecordDoc = {
  "@context": string;
  "@type": "Transaction";
  txID: string;
  key: string;
  /** Hash of the block the record was stored in. */
  block: string;
  height: number;
  /** Position within the block: fixes the Merkle leaf order. */
  index: number;
  miner: string;
  minerKey: string;
  source: string;
  timestamp: number;
  value: unknown;
  signature: string;
};

/**
 * Checks a new chunk (a put) and computes its canonical forms. Every number in its value must lie
 * within ±(2^53-1): beyond that JSON.parse has already rounded an integer, so the record would not be
 * what the device sent (send such values as strings).
 */
export function normaliseChunk(chunk: Chunk): NormalChunk {
  return normalise(chunk, true);
}

// Stored records are checked without the number range: records written before it was enforced
// must keep verifying, and their signatures cover the rounded value anyway.
function normalise(chunk: Chunk, safeNumbers: boolean): NormalChunk {
  if (typeof chunk !== "object" || chunk === null)
    throw new InputError("bad_chunk", "chunk must be an object");
  const { source, value } = chunk;
  if (typeof source !== "string" || source.length === 0 || source.length > MAX_SOURCE_LENGTH) {
    throw new InputError("bad_source", `source must be a string of 1..${MAX_SOURCE_LENGTH} chars`);
  }
  // Control characters are refused so the store can use \x00 as an index separator.
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x1f]/.test(source)) throw new InputError("bad_source", "source contains control characters");
  if (value === undefined) throw new InputError("not_json", "value is missing");
  const timestamp = normaliseTimestamp(chunk.timestamp);
  assertJson(value, "value", { safeNumbers });
  const canonicalValue = canonicalJsonTrusted(value);
  const canonical = chunkCanonical(source, timestamp, canonicalValue);
  // A UTF-8 byte is at least a third of a UTF-16 unit: count bytes only when it could matter.
  if (canonical.length * 3 > MAX_CHUNK_BYTES && Buffer.byteLength(canonical) > MAX_CHUNK_BYTES) {
    throw new InputError("too_large", `chunk is larger than ${MAX_CHUNK_BYTES} bytes of canonical JSON`);
  }
  return { source, timestamp, value, canonical, canonicalValue };
}

// Keys in RFC 8785 order (source < timestamp < value); strings through JSON.stringify, which
// RFC 8785 adopts as its string serialisation.
function chunkCanonical(source: string, timestamp: number, canonicalValue: string): string {
  return `{"source":${JSON.stringify(source)},"timestamp":${timestamp},"value":${canonicalValue}}`;
}

export function dataKey(chunk: Chunk): string {
  return doubleSha256Hex(normaliseChunk(chunk).canonical);
}

export function txIdFor(blockHash: string, key: string): string {
  return doubleSha256Hex(blockHash + key);
}

/** The bytes a record signature covers: the canonical document without `signature`. */
export function signingString(doc: Omit<RecordDoc, "signature"> | RecordDoc): string {
  const { signature: _s, ...rest } = doc as RecordDoc;
  return canonicalJsonTrusted(rest);
}

// Same bytes as signingString for a document this module built, without re-serialising the value.
function fastSigningString(d: Omit<RecordDoc, "signature" | "value">, canonicalValue: string): string {
  const s = JSON.stringify;
  return (
    `{"@context":${s(d["@context"])},"@type":"Transaction","block":${s(d.block)},"height":${d.height},` +
    `"index":${d.index},"key":${s(d.key)},"miner":${s(d.miner)},"minerKey":${s(d.minerKey)},` +
    `"source":${s(d.source)},"timestamp":${d.timestamp},"txID":${s(d.txID)},"value":${canonicalValue}}`
  );
}

/** A record with everything but its signature, and the bytes the signature must cover. */
export function unsignedRecord(
  c: NormalChunk,
  key: string,
  block: { hash: string; height: number },
  index: number,
  signer: { id: string; publicKeyHex: string },
): { doc: RecordDoc; signed: string } {
  const doc = {
    "@context": LEDGER_CONTEXT_URL,
    "@type": "Transaction" as const,
    txID: txIdFor(block.hash, key),
    key,
    block: block.hash,
    height: block.height,
    index,
    miner: signer.id,
    minerKey: signer.publicKeyHex,
    source: c.source,
    timestamp: c.timestamp,
  };
  return { doc: { ...doc, value: c.value, signature: "" }, signed: fastSigningString(doc, c.canonicalValue) };
}

export function buildRecord(
  c: NormalChunk,
  key: string,
  block: { hash: string; height: number },
  index: number,
  identity: Identity,
): RecordDoc {
  const { doc, signed } = unsignedRecord(c, key, block, index, identity);
  doc.signature = identity.sign(signed);
  return doc;
}

const RECORD_FIELDS = [
  "@context",
  "@type",
  "txID",
  "key",
  "block",
  "height",
  "index",
  "miner",
  "minerKey",
  "source",
  "timestamp",
  "value",
  "signature",
];

/**
 * Everything verifyRecord checks except the signature itself, which costs more than all the rest
 * together; returns what failed, or the bytes the signature must cover (so a verifier can check
 * signatures in parallel, see verify.ts).
 */
export function checkRecordBody(doc: RecordDoc): { bad: string } | { signed: string } {
  if (typeof doc !== "object" || doc === null || Array.isArray(doc))
    return { bad: "record is not an object" };
  if (!isLedgerContext(doc["@context"])) return { bad: "unknown @context" };
  if (doc["@type"] !== "Transaction") return { bad: "@type is not Transaction" };
  for (const f of ["txID", "key", "block", "miner", "minerKey"] as const) {
    if (typeof doc[f] !== "string" || !HEX64.test(doc[f])) return { bad: `bad ${f}` };
  }
  if (!Number.isSafeInteger(doc.height) || doc.height < 1) return { bad: "bad height" };
  if (!Number.isSafeInteger(doc.index) || doc.index < 0) return { bad: "bad index" };
  if (typeof doc.signature !== "string") return { bad: "missing signature" };
  let c: NormalChunk;
  try {
    c = normalise({ source: doc.source, timestamp: doc.timestamp, value: doc.value }, false);
    if (c.timestamp !== doc.timestamp) return { bad: "timestamp not normalised" };
  } catch (e) {
    return { bad: `bad chunk: ${(e as Error).message}` };
  }
  if (doubleSha256Hex(c.canonical) !== doc.key) return { bad: "key does not match chunk" };
  if (txIdFor(doc.block, doc.key) !== doc.txID) return { bad: "txID does not match block and key" };
  if (nodeIdOf(doc.minerKey) !== doc.miner) return { bad: "miner is not sha256(minerKey)" };
  const keys = Object.keys(doc);
  // Exactly the fields this module writes: the hand-ordered serialisation applies. Anything else
  // goes through the generic one (and an added field then breaks the signature, as it should).
  if (keys.length === RECORD_FIELDS.length && RECORD_FIELDS.every((f) => f in doc)) {
    return { signed: fastSigningString(doc, c.canonicalValue) };
  }
  try {
    assertJson(doc);
    return { signed: signingString(doc) };
  } catch (e) {
    return { bad: `not JSON: ${(e as Error).message}` };
  }
}

/** Pure check of one record: shape, key and txID formulas, miner id and signature. Null = ok. */
export function verifyRecord(doc: RecordDoc): string | null {
  const r = checkRecordBody(doc);
  if ("bad" in r) return r.bad;
  if (!Identity.verify(doc.minerKey, r.signed, doc.signature)) return "bad record signature";
  return null;
}
