// The node-level peer protocol in one table: for every method, what its params and its result
// must look like and who may call it. The server side (serve.ts) parses params before a handler
// runs; the client side (peer-client.ts) parses results before a caller sees them. Handlers live
// in ../handlers/, one file per namespace.
import { z } from "zod";
import {
  approveResult,
  branchSummary,
  block,
  duplicate,
  branchReport,
  checkpoint,
  chunk,
  hex64,
  inclusionProof,
  inventoryResult,
  invalidNote,
  MAX_PEERS,
  noParams,
  peerRef,
  putInput,
  putResult,
  storeQuery,
  recordDoc,
  revocation,
  ringInfo,
  thingDescription,
} from "./shapes.js";
import { MAX_TOKEN_LENGTH } from "../../net/membership.js";

/** Keys or records in one replica/have message; a repair pass sends as many messages as it needs. */
export const KEY_BATCH = 500;
/** Blocks in one branch page. */
export const BRANCH_PAGE = 500;
/** Records one query answers at most. */
export const QUERY_MAX = 10_000;
/** Duplicates one member reports to an inventory. */
export const MAX_DUPLICATES = 10_000;
/** Records in one member's answer to store.query; more come by paging. */
export const QUERY_PAGE = 1_000;

/**
 * Who may call a method. Every caller is an authenticated member (the transport refuses anyone
 * else); "miner" methods also take only objects the caller itself mined, checked by serve.ts with
 * `minedBy`.
 */
export type Access = "member" | "miner";

export interface MethodSpec<P extends z.ZodType = z.ZodType, R extends z.ZodType = z.ZodType> {
  params: P;
  result: R;
  access: Access;
  /** For "miner" methods: the miners of everything the params carry; each must be the caller. */
  minedBy?: (params: z.output<P>) => string[];
}

// Params are strict objects: a key the method does not take is an error, not silently dropped.
const spec = <P extends z.ZodType, R extends z.ZodType>(s: MethodSpec<P, R>) => s;

const ok = z.literal(true);
const branchPage = z.object({
  blocks: z.array(block).max(BRANCH_PAGE),
  invalid: z.array(invalidNote).max(BRANCH_PAGE),
  more: z.boolean(),
});

export const PROTOCOL = {
  "node.info": spec({
    params: noParams,
    result: z.object({ id: hex64, addr: peerRef.shape.addr, td: thingDescription.nullable() }),
    access: "member",
  }),
  // Members (and admitted tools) may ask any node to route for them, as an endpoint would.
  "node.put": spec({ params: z.strictObject(putInput.shape), result: putResult, access: "member" }),
  "node.get": spec({ params: z.strictObject({ key: hex64 }), result: recordDoc, access: "member" }),
  "node.ring": spec({ params: noParams, result: ringInfo, access: "member" }),
  "node.approve": spec({ params: z.strictObject({ txID: hex64 }), result: approveResult, access: "member" }),
  "node.balance": spec({ params: noParams, result: z.number().int().nonnegative(), access: "member" }),
  "node.branch": spec({ params: noParams, result: branchSummary, access: "member" }),
  // Admin only: the call carries the admin credential (signed by the admin key), so the admin
  // node signs a checkpoint for its admin and never for a member that merely asked. Conditions
  // (`report`) are not a peer method at all: they come only from the node's own operator.
  "node.inventory": spec({
    params: z.strictObject({ credential: z.string().max(1024) }),
    result: inventoryResult,
    access: "member",
  }),

  // The owner of a key records it; it checks on arrival that the key is its own.
  "store.put": spec({ params: z.strictObject(chunk.shape), result: recordDoc, access: "member" }),
  "store.replica": spec({
    params: z.strictObject({ records: z.array(recordDoc).max(KEY_BATCH) }),
    result: z.object({ stored: z.number().int().nonnegative() }),
    access: "member",
  }),
  // Which of these records (by key and txID) the callee lacks: answered with their txIDs.
  "store.have": spec({
    params: z.strictObject({ entries: z.array(z.object({ key: hex64, txID: hex64 })).max(KEY_BATCH) }),
    result: z.object({ missing: z.array(hex64).max(KEY_BATCH) }),
    access: "member",
  }),
  "store.get": spec({
    params: z.strictObject({ key: hex64 }),
    result: recordDoc.nullable(),
    access: "member",
  }),
  // A member's records in a key range (default: its own range), a page at a time under the frame limit.
  "store.query": spec({
    params: z.strictObject(storeQuery.shape),
    result: z.object({ records: z.array(recordDoc).max(QUERY_PAGE), more: z.boolean() }),
    access: "member",
  }),
  "store.byTx": spec({
    params: z.strictObject({ txID: hex64 }),
    result: recordDoc.nullable(),
    access: "member",
  }),

  "ledger.block": spec({
    params: z.strictObject({ hash: hex64 }),
    result: block.nullable(),
    access: "member",
  }),
  "ledger.branch": spec({
    params: z.strictObject({
      from: z.number().int().positive().max(Number.MAX_SAFE_INTEGER).optional(),
      limit: z.number().int().positive().optional(),
    }),
    result: branchPage,
    access: "member",
  }),
  // Successors keep copies of a member's branch, taken only from that member itself.
  "ledger.blockCopy": spec({
    params: z.strictObject({ block }),
    result: z.null(),
    access: "miner",
    minedBy: (p) => [p.block.miner],
  }),
  // Signed by the miner (over invalidNoticeText); one per block the copy holds.
  "ledger.invalidCopy": spec({
    params: z.strictObject({ invalid: invalidNote, signature: z.string().regex(/^[0-9a-f]{128}$/) }),
    result: z.null(),
    access: "miner",
  }),
  "ledger.branchCopy": spec({
    params: z.strictObject({
      blocks: z.array(block).max(BRANCH_PAGE),
      invalid: z.array(invalidNote).max(BRANCH_PAGE),
    }),
    result: ok,
    access: "miner",
    minedBy: (p) => p.blocks.map((b) => b.miner),
  }),
  // Chunks this node holds in two records (its own and another miner's), for the inventory.
  "ledger.duplicates": spec({
    params: noParams,
    result: z.array(duplicate).max(MAX_DUPLICATES),
    access: "member",
  }),
  "ledger.copies": spec({ params: noParams, result: z.array(hex64).max(MAX_PEERS), access: "member" }),
  "ledger.copy": spec({
    params: z.strictObject({ miner: hex64 }),
    result: branchReport.nullable(),
    access: "member",
  }),
  // The inclusion proof of one of the callee's own records; null when the txID is not its own.
  "ledger.proof": spec({
    params: z.strictObject({ txID: hex64 }),
    result: inclusionProof.nullable(),
    access: "member",
  }),
  // Checked against the admin key by the handler: members store only what the admin signed.
  "ledger.checkpoint": spec({
    params: z.strictObject({ checkpoint }),
    result: z.object({ stored: z.string().max(256) }),
    access: "member",
  }),

  // Holders of a record learn that an endpoint's approval verified it: the notice carries the
  // grant record, which the holder checks before it emits `verified`.
  "flowcoin.verified": spec({
    params: z.strictObject({ txID: hex64, miner: hex64, grant: recordDoc }),
    result: ok,
    access: "member",
  }),

  // The callee's membership token, for a node that got in with a join token (membership-exchange.ts):
  // every member holds the same one, and the caller checks it against the admin key.
  "member.proof": spec({
    params: noParams,
    result: z.string().min(1).max(MAX_TOKEN_LENGTH),
    access: "member",
  }),

  // The admin removed a member: checked against the admin key, kept, and passed on through the ring.
  "member.revoke": spec({
    params: z.strictObject({ revocation }),
    result: z.object({ new: z.boolean() }),
    access: "member",
  }),
} as const;

export type Method = keyof typeof PROTOCOL;
/** What a caller passes (before parsing). */
export type ParamsIn<M extends Method> = z.input<(typeof PROTOCOL)[M]["params"]>;
/** What a handler receives (after parsing). */
export type Params<M extends Method> = z.output<(typeof PROTOCOL)[M]["params"]>;
export type Result<M extends Method> = z.output<(typeof PROTOCOL)[M]["result"]>;

export const METHODS = Object.keys(PROTOCOL) as Method[];
