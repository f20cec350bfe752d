// What one Flowchain node offers to its edges (the WoT Thing, the CLI). The wot layer depends on
// this interface only, never on chord, net or ledger internals.
import type { EventEmitter } from "node:events";
import type { Checkpoint } from "../ledger/inventory.js";
import type { CredentialCheck } from "./credentials.js";
import type { Approver } from "./approval.js";

export interface PutInput {
  value: unknown;
  source?: string;
  /** Milliseconds since the epoch or an ISO 8601 string; default now. */
  timestamp?: number | string;
}

export interface PutResult {
  key: string;
  txID: string;
  owner: string;
  block: string;
  hops: number;
}

/** A stored transaction: a JSON-LD document (see td/ledger-context.jsonld). */
export type RecordDoc = Record<string, unknown> & { txID: string; key: string };

export interface QueryInput {
  from: number | string;
  to: number | string;
  source?: string;
  /** Records in one answer; default 100, at most 10,000. */
  limit?: number;
  /** The `next` of an earlier answer: continue after its last record. */
  cursor?: string;
}

/**
 * A page of a query across the ring, ordered by (timestamp, txID). `complete` is false when some
 * key range could not be read from its owner nor from any replica; `missing` names those ranges
 * (id intervals (from, to] on the ring). `next` continues the query; null when nothing is left.
 */
export interface QueryResult {
  records: RecordDoc[];
  complete: boolean;
  missing: { from: string; to: string }[];
  next: string | null;
}

/**
 * An inclusion proof (format: README, "Inclusion proofs"): the signed record, the audit path to
 * the block sealing it, the signed headers, the miner's membership token and a covering checkpoint.
 */
export type ProofDoc = Record<string, unknown> & { "@type": "InclusionProof"; record: RecordDoc };

export interface BlockEvent {
  height: number;
  hash: string;
  miner: string;
  time: number;
}

export interface RingInfo {
  id: string;
  predecessor: { id: string; addr: string } | null;
  successors: { id: string; addr: string }[];
  fingers: { distinct: number; entries: { start: number; id: string }[] };
}

export interface ChainInfo {
  height: number;
  head: string;
  validBlock: string | null;
  difficulty: { tier: number; target: string; reliability: number };
  recordsSealed: number;
  recordsUnsealed: number;
}

/** A member's branch at a glance: its chain state and its latest blocks, newest last. */
export interface BranchSummary extends ChainInfo {
  id: string;
  recent: { height: number; hash: string; timestamp: number; invalid: string | null }[];
}

/** A ring member's branch as this node could read it (null while the member does not answer). */
export interface BranchView {
  id: string;
  branch: BranchSummary | null;
}

export interface NodeStats {
  records: number;
  putsPerSecond: number;
  uptimeSeconds: number;
}

export interface ApproveResult {
  txID: string;
  verified: boolean;
  granted: boolean;
  miner: string;
  reason?: string;
}

export interface ReportInput {
  battery?: number;
  bandwidth?: number;
  signal?: number;
  condition?: string;
  detail?: string;
}

export interface ReportResult {
  resources: { battery: number; bandwidth: number; signal: number };
  reliability: number;
  /** Hash of the block the condition invalidated, if any. */
  invalidated: string | null;
}

export interface InventoryResult {
  checkpoint: Record<string, unknown>;
  branches: { miner: string; blocks: number; head: string }[];
  invalidBlocks: { miner: string; height: number; hash: string; reason: string }[];
  unreachable: string[];
  /** Chunks recorded in more than one branch (e.g. on both sides of a partition), with each record. */
  duplicates: { key: string; records: { txID: string; miner: string }[] }[];
  /** Grants by the endpoint credential that approved them (fingerprint, subject), per miner paid. */
  approvals: {
    credential: string | null;
    subject: string | null;
    grants: number;
    to: { miner: string; grants: number }[];
  }[];
}

/** What a node emits, with payloads: the WoT layer turns the first three into the Thing's events. */
export interface NodeEvents {
  block: [BlockEvent];
  transaction: [RecordDoc];
  /** An approval verified a transaction; `by` is the member that relayed it, when one did. */
  verified: [{ txID: string; miner: string; by?: string }];
  /** Ring membership around this node changed (its successor list). */
  members: [{ id: string; addr: string }[]];
}

/** Events: see NodeEvents. */
export interface FlowchainNodeApi extends EventEmitter {
  readonly id: string;
  readonly networkId: string;
  put(input: PutInput): Promise<PutResult>;
  /** With `proof: true`, the record carries its inclusion proof as `proof`. */
  get(key: string, opts?: { proof?: boolean }): Promise<RecordDoc>;
  /** A checked inclusion proof of any transaction of the network. */
  proof(input: { txID: string }): Promise<ProofDoc>;
  query(input: QueryInput): Promise<QueryResult>;
  /** `by`: the endpoint credential that asked, named in the grant for audit. */
  approve(input: { txID: string }, by?: Approver): Promise<ApproveResult>;
  inventory(): Promise<InventoryResult>;
  ring(): RingInfo;
  chain(): Promise<ChainInfo>;
  /** Every ring member's branch summary, asked of each member (this node's own included). */
  branches(): Promise<BranchView[]>;
  balance(): Promise<number>;
  /** The latest admin-signed inventory checkpoint this node holds (public: proofs carry it), or null. */
  checkpoint(): Promise<Checkpoint | null>;
  peers(): { id: string; addr: string; thing?: string }[];
  stats(): Promise<NodeStats>;
  /** Checks a client credential (signature, network, expiry); see credentials.ts. */
  checkCredential(token: string): CredentialCheck;
  /** True when `token` is this network's admin credential. */
  isAdmin(token: string | undefined): boolean;
  /** The WoT layer tells the node its own TD, so ring members can serve each other's TDs. */
  setThingDescription(td: Record<string, unknown>): void;
  /** TDs of every live ring member this node knows (itself included), for the Thing Directory. */
  directory(): Promise<Record<string, unknown>[]>;
  /** Reports an invalid condition (low battery, out of disk, network loss): the block in use is invalidated. */
  reportCondition(condition: { kind: string; detail?: string }): Promise<void>;
  /** Resources (each 0..1) and optionally an invalid condition, as a device reports them. */
  report(input: ReportInput): Promise<ReportResult>;
}
