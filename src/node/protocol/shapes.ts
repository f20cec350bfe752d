// The shapes that cross the peer boundary, as zod schemas: what a member sends is parsed against
// these before any handler runs, and what a member answers is parsed before any caller sees it.
// Objects are `z.object` (unknown keys stripped), so junk a peer attaches never travels further.
import { z } from "zod";
import { MAX_CHUNK_BYTES } from "../../ledger/record.js";
import { HEX128, HEX64 } from "../../util/hex.js";

export const hex64 = z.string().regex(HEX64, "64 lowercase hex characters");
export const hex128 = z.string().regex(HEX128, "128 lowercase hex characters");

/** Far more than a ring message needs; keeps one answer from naming the world. */
export const MAX_PEERS = 4096;
const MAX_ADDR = 256;
export const MAX_REASON = 500;

export const peerRef = z.object({ id: hex64, addr: z.string().min(1).max(MAX_ADDR) });

/** Methods without arguments accept null, nothing or {} so callers in other languages need not care. */
export const noParams = z
  .strictObject({})
  .nullish()
  .transform(() => ({}));

/** A reading or value as JSON carried it: anything but absent (the transport is JSON, so nothing else arrives). */
export const jsonValue = z.unknown().refine((v): boolean => v !== undefined, "required");

/** A reading's value: JSON of at most the ledger's chunk size, refused before any work is done. */
const readingValue = jsonValue.refine(
  (v): boolean => (JSON.stringify(v) ?? "").length <= MAX_CHUNK_BYTES,
  `value over ${MAX_CHUNK_BYTES} bytes of JSON`,
);

export const millis = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);
/** A time bound as the Thing takes it: ms since the epoch or an ISO 8601 string (parsed by the ledger). */
export const timeBound = z.union([millis, z.string().max(64)]);

export const recordDoc = z.object({
  "@context": z.string().max(MAX_ADDR),
  "@type": z.literal("Transaction"),
  txID: hex64,
  key: hex64,
  block: hex64,
  height: z.number().int().positive(),
  index: z.number().int().nonnegative(),
  miner: hex64,
  minerKey: hex64,
  source: z.string().min(1).max(256),
  timestamp: millis,
  value: jsonValue,
  signature: hex128,
});

export const block = z.object({
  "@context": z.string().max(MAX_ADDR),
  "@type": z.literal("Block"),
  hash: hex64,
  height: z.number().int().nonnegative(),
  prev: hex64,
  timestamp: millis,
  miner: hex64,
  target: hex64,
  nonce: z.number().int().nonnegative(),
  sealedRoot: hex64,
  // Absent in blocks mined before Merkle version 2 (and genesis): kept, since the hash covers it.
  merkle: z.literal(2).optional(),
  // "" for genesis, which nobody mines; checked as a signature by verifyBlock.
  signature: z.string().max(128),
  minerKey: hex64,
  network: z.object({ name: z.string().max(MAX_ADDR), adminPublicKey: hex64 }).optional(),
});

export const invalidNote = z.object({
  hash: hex64,
  reason: z
    .string()
    .max(4096)
    .transform((r) => r.slice(0, MAX_REASON)),
});

/** A chunk on its way to its owner; the owner recomputes the key, so sending it is optional. */
export const chunk = z.object({
  source: z.string().min(1).max(256),
  timestamp: millis,
  value: readingValue,
  key: hex64.optional(),
});

export const putInput = z.object({
  value: readingValue,
  source: z.string().max(256).optional(),
  timestamp: timeBound.optional(),
});

export const putResult = z.object({
  key: hex64,
  txID: hex64,
  owner: hex64,
  block: hex64,
  hops: z.number().int().nonnegative(),
});

export const queryInput = z.object({
  from: timeBound,
  to: timeBound,
  source: z.string().max(256).optional(),
  limit: z.number().int().positive().optional(),
  cursor: z.string().max(256).optional(),
});

/** Where a page of a query ends: the (timestamp, txID) of its last record. */
export const queryAfter = z.object({ timestamp: millis, txID: hex64 });

/** One member's part of a query: records (own or replicas) whose key is in (range.from, range.to]. */
export const storeQuery = z.object({
  from: timeBound,
  to: timeBound,
  source: z.string().max(256).optional(),
  limit: z.number().int().positive().optional(),
  after: queryAfter.optional(),
  range: z.object({ from: hex64, to: hex64 }).optional(),
  /** Asked in place of a silent member: also every replica that member recorded, whatever its key. */
  standInFor: hex64.optional(),
});

export const branchReport = z.object({
  miner: hex64,
  blocks: z.array(block).max(100_000),
  invalid: z.array(invalidNote).max(100_000),
});

export const ringInfo = z.object({
  id: hex64,
  predecessor: peerRef.nullable(),
  successors: z.array(peerRef).max(MAX_PEERS),
  fingers: z.object({
    distinct: z.number().int().nonnegative(),
    entries: z.array(z.object({ start: z.number().int().nonnegative(), id: hex64 })).max(1024),
  }),
});

export const approveResult = z.object({
  txID: hex64,
  verified: z.boolean(),
  granted: z.boolean(),
  miner: hex64,
  reason: z.string().max(1024).optional(),
});

const height = z.number().int().nonnegative();
/** A block the inventory left out, and why. */
const invalidBlock = z.object({ miner: hex64, height, hash: hex64, reason: z.string().max(MAX_REASON) });

/** A chunk recorded in more than one branch, with each record. */
export const duplicate = z.object({
  key: hex64,
  records: z
    .array(z.object({ txID: hex64, miner: hex64 }))
    .min(2)
    .max(16),
});

export const inventoryResult = z.object({
  checkpoint: z.record(z.string(), z.unknown()),
  branches: z
    .array(z.object({ miner: hex64, blocks: z.number().int().nonnegative(), head: hex64 }))
    .max(MAX_PEERS),
  invalidBlocks: z.array(invalidBlock).max(100_000),
  unreachable: z.array(hex64).max(MAX_PEERS),
  duplicates: z.array(duplicate).max(100_000),
  approvals: z
    .array(
      z.object({
        credential: z.string().max(64).nullable(),
        subject: z.string().max(64).nullable(),
        grants: z.number().int().nonnegative(),
        to: z.array(z.object({ miner: hex64, grants: z.number().int().nonnegative() })).max(MAX_PEERS),
      }),
    )
    .max(100_000)
    .default([]),
});

/** How many of a branch's latest blocks a summary shows. */
export const RECENT_BLOCKS = 24;

/** A member's branch at a glance (the explorer's branches view): its chain state and last blocks. */
export const branchSummary = z.object({
  id: hex64,
  height: z.number().int().nonnegative(),
  head: hex64,
  validBlock: hex64.nullable(),
  difficulty: z.object({
    tier: z.number().int().nonnegative(),
    target: z.string().max(64),
    reliability: z.number().min(0).max(1),
  }),
  recordsSealed: z.number().int().nonnegative(),
  recordsUnsealed: z.number().int().nonnegative(),
  recent: z
    .array(
      z.object({
        height: z.number().int().nonnegative(),
        hash: hex64,
        timestamp: z.number().int().nonnegative(),
        /** Why the miner invalidated it, or null for a valid block. */
        invalid: z.string().max(500).nullable(),
      }),
    )
    .max(RECENT_BLOCKS),
});

/** A TD as a member hands it out: any JSON object (the directory serves it as is). */
export const thingDescription = z.record(z.string(), z.unknown());

export const checkpoint = z.object({
  "@context": z.string().max(MAX_ADDR),
  "@type": z.literal("Checkpoint"),
  network: hex64,
  time: millis,
  heads: z.array(z.object({ miner: hex64, height, head: hex64 })).max(MAX_PEERS),
  root: hex64,
  merkle: z.literal(2).optional(),
  blocks: z.number().int().nonnegative(),
  invalid: z.array(invalidBlock).max(100_000),
  unreachable: z.array(hex64).max(MAX_PEERS),
  adminKey: hex64,
  signature: hex128,
});

/** An admin-signed removal of a member (see ../revocations.ts). */
export const revocation = z.strictObject({
  network: hex64,
  member: hex64,
  at: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER),
  signature: z.string().regex(/^[0-9a-f]{128}$/),
});
export type Revocation = z.infer<typeof revocation>;

/** An inclusion proof (src/ledger/proof.ts), as the miner of a record hands it out. */
export const inclusionProof = z.object({
  "@context": z.string().max(MAX_ADDR),
  "@type": z.literal("InclusionProof"),
  version: z.literal(1),
  network: z.object({ name: z.string().max(MAX_ADDR), adminPublicKey: hex64 }),
  record: recordDoc,
  merkle: z.object({
    index: z.number().int().nonnegative(),
    size: z.number().int().positive(),
    path: z.array(hex64).max(64),
  }),
  // The record's block, the sealing block and at most MAX_CHECKPOINT_CHAIN more.
  blocks: z.array(block).min(2).max(258),
  membership: z.string().max(4096),
  checkpoint: z
    .object({ checkpoint, index: z.number().int().nonnegative(), path: z.array(hex64).max(64) })
    .nullable(),
});
