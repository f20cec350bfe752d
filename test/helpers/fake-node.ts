// An in-memory FlowchainNodeApi for the WoT tests: it records every call, so tests can prove that
// rejected input never reached the node, and emits block/transaction/verified events on demand.
import { EventEmitter } from "node:events";
import { createHash } from "node:crypto";
import type {
  ApproveResult,
  BlockEvent,
  BranchView,
  ChainInfo,
  FlowchainNodeApi,
  InventoryResult,
  NodeStats,
  ProofDoc,
  PutInput,
  PutResult,
  QueryInput,
  QueryResult,
  RecordDoc,
  RingInfo,
  ReportInput,
  ReportResult,
} from "../../src/node/api.js";
import { NotFoundError } from "../../src/util/errors.js";
import type { CredentialCheck, CredentialRole } from "../../src/node/credentials.js";
import type { Checkpoint } from "../../src/ledger/inventory.js";

export const ADMIN_TOKEN = "test-admin-token";
/** Credentials the fake node accepts, by token: the test-<role>-token of each role. */
export const ROLE_TOKENS = {
  device: "test-device-token",
  endpoint: "test-endpoint-token",
  operator: "test-operator-token",
  admin: ADMIN_TOKEN,
} as const;

export class FakeNode extends EventEmitter implements FlowchainNodeApi {
  readonly id: string;
  readonly networkId = "test-network";
  readonly records = new Map<string, RecordDoc>();
  readonly calls: { method: string; input?: unknown }[] = [];
  td: Record<string, unknown> | undefined;
  /** TDs of other ring members, for the directory. */
  others: Record<string, unknown>[] = [];
  private height = 0;

  constructor(seed = "fake") {
    super();
    this.id = createHash("sha256").update(seed).digest("hex").slice(0, 40);
  }

  async put(input: PutInput): Promise<PutResult> {
    this.calls.push({ method: "put", input });
    const ts = input.timestamp === undefined ? Date.now() : new Date(input.timestamp).getTime();
    const txID = createHash("sha256")
      .update(`${this.records.size}:${JSON.stringify(input)}`)
      .digest("hex");
    const key = txID.slice(0, 40);
    const rec: RecordDoc = {
      key,
      txID,
      value: input.value,
      source: input.source ?? "anonymous",
      timestamp: ts,
    };
    this.records.set(key, rec);
    this.emit("transaction", rec);
    return { key, txID, owner: this.id, block: `block-${this.height}`, hops: 0 };
  }

  async get(key: string, opts: { proof?: boolean } = {}): Promise<RecordDoc> {
    this.calls.push({ method: "get", input: opts.proof ? { key, proof: true } : key });
    const rec = this.records.get(key);
    if (!rec) throw new NotFoundError(`no record with key ${key}`);
    return opts.proof ? { ...rec, proof: this.fakeProof(rec) } : rec;
  }

  /** Not a valid proof: the WoT tests check routing and schemas, the proof tests check proofs. */
  private fakeProof(rec: RecordDoc): ProofDoc {
    return { "@type": "InclusionProof", version: 1, record: rec };
  }

  async proof(input: { txID: string }): Promise<ProofDoc> {
    this.calls.push({ method: "proof", input });
    const rec = [...this.records.values()].find((r) => r.txID === input.txID);
    if (!rec) throw new NotFoundError(`no transaction ${input.txID}`);
    return this.fakeProof(rec);
  }

  /** Set by a test to make the next answers partial, as when a key range has no live holder. */
  missingRanges: { from: string; to: string }[] = [];

  async query(input: QueryInput): Promise<QueryResult> {
    this.calls.push({ method: "query", input });
    const from = new Date(input.from).getTime();
    const to = new Date(input.to).getTime();
    const records = [...this.records.values()]
      .filter((r) => (r.timestamp as number) >= from && (r.timestamp as number) <= to)
      .filter((r) => input.source === undefined || r.source === input.source)
      .slice(0, input.limit ?? 100);
    return { records, complete: this.missingRanges.length === 0, missing: this.missingRanges, next: null };
  }

  async approve(input: { txID: string }): Promise<ApproveResult> {
    this.calls.push({ method: "approve", input });
    const found = [...this.records.values()].some((r) => r.txID === input.txID);
    this.emit("verified", { txID: input.txID, miner: this.id });
    return {
      txID: input.txID,
      verified: found,
      granted: found,
      miner: this.id,
      ...(found ? {} : { reason: "unknown" }),
    };
  }

  async inventory(): Promise<InventoryResult> {
    this.calls.push({ method: "inventory" });
    return {
      checkpoint: { height: this.height },
      branches: [],
      invalidBlocks: [],
      approvals: [],
      unreachable: [],
      duplicates: [],
    };
  }

  ring(): RingInfo {
    return { id: this.id, predecessor: null, successors: [], fingers: { distinct: 0, entries: [] } };
  }

  async chain(): Promise<ChainInfo> {
    return {
      height: this.height,
      head: `block-${this.height}`,
      validBlock: null,
      difficulty: { tier: 1, target: "0f", reliability: 1 },
      recordsSealed: 0,
      recordsUnsealed: this.records.size,
    };
  }

  async branches(): Promise<BranchView[]> {
    return [{ id: this.id, branch: { id: this.id, ...(await this.chain()), recent: [] } }];
  }

  async balance(): Promise<number> {
    return 42;
  }

  async checkpoint(): Promise<Checkpoint | null> {
    return null;
  }

  peers(): { id: string; addr: string; thing?: string }[] {
    return [];
  }

  async stats(): Promise<NodeStats> {
    return { records: this.records.size, putsPerSecond: 0, uptimeSeconds: 1 };
  }

  isAdmin(token: string | undefined): boolean {
    return token === ADMIN_TOKEN;
  }

  checkCredential(token: string): CredentialCheck {
    const role = (Object.keys(ROLE_TOKENS) as CredentialRole[]).find((r) => ROLE_TOKENS[r] === token);
    if (role === undefined) return { ok: false, reason: "bad_signature", message: "not a test credential" };
    return { ok: true, credential: { id: "0123456789abcdef", role, subject: `test-${role}`, issuedAt: 0 } };
  }

  setThingDescription(td: Record<string, unknown>): void {
    this.td = td;
  }

  async directory(): Promise<Record<string, unknown>[]> {
    return [...(this.td ? [this.td] : []), ...this.others];
  }

  async reportCondition(): Promise<void> {}

  async report(input: ReportInput): Promise<ReportResult> {
    const resources = { battery: 1, bandwidth: 1, signal: 1, ...input };
    delete (resources as ReportInput).condition;
    delete (resources as ReportInput).detail;
    return { resources, reliability: 0.7, invalidated: input.condition ? "f".repeat(64) : null };
  }

  /** Mines a pretend block: emits "block" as the real node does. */
  mine(): BlockEvent {
    this.height++;
    const block: BlockEvent = {
      height: this.height,
      hash: `block-${this.height}`,
      miner: this.id,
      time: Date.now(),
    };
    this.emit("block", block);
    return block;
  }
}
