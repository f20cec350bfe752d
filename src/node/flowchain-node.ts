// One Flowchain node: the ring (who owns a key), the peer network (how to reach it) and the
// ledger (this node's Virtual Block branch), composed behind FlowchainNodeApi.
import { EventEmitter } from "node:events";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { ChordNode } from "../chord/node.js";
import type { PeerRef } from "../chord/transport.js";
import { CHORD_METHODS, peerList } from "../chord/wire.js";
import type { Block } from "../ledger/block.js";
import { Identity } from "../ledger/identity.js";
import { Ledger } from "../ledger/ledger.js";
import type { RecordDoc } from "../ledger/record.js";
import { PeerNetwork, type Handler } from "../net/peer-network.js";
import { createLogger, type Logger } from "../log.js";
import { ConflictError, errorText, InputError, NotFoundError, UnavailableError } from "../util/errors.js";
import type {
  ApproveResult,
  ChainInfo,
  FlowchainNodeApi,
  InventoryResult,
  NodeStats,
  PutInput,
  PutResult,
  QueryInput,
  ReportInput,
  ReportResult,
  RingInfo,
} from "./api.js";
import { verifyAdminCredential } from "./admin-credential.js";
import { prepareNetwork, type NetworkState } from "./bootstrap.js";
import { dataFiles } from "./data-dir.js";
import {
  approve,
  checkGrant,
  countCoins,
  FLOWCOIN_SOURCE,
  grantHolds,
  isGrant,
  type ApprovalDeps,
} from "./approval.js";
import { keyedChunk, type KeyedChunk } from "./keyed-chunk.js";
import { LAPTOP_DEFAULTS, parseResources, reliability, type Resources } from "./reliability.js";
import { walkRing } from "./members.js";
import { PeerChordTransport } from "./peer-chord-transport.js";
import { Placement } from "./placement.js";
import { BranchCopies } from "./branch-copies.js";
import { BRANCH_PAGE, runInventory, type BranchPage } from "./inventory.js";
import { verifyCheckpoint, type Checkpoint } from "../ledger/inventory.js";
import { RateMeter } from "./rate-meter.js";
import { HEX64 } from "../util/hex.js";

export interface NodeOptions {
  dataDir: string;
  host: string;
  port: number;
  /** "host:port" of any member; absent for the first node of a network. */
  join?: string;
  token?: string;
  networkName?: string;
  replicas?: number;
  writeQuorum?: number;
  successorListLength?: number;
  stabilizeMs?: number;
  repairMs?: number;
  requestTimeoutMs?: number;
  hashesPerSecond?: number;
  log?: Logger;
}

const PUT_ATTEMPTS = 8;
const CONDITIONS = ["low_battery", "out_of_disk", "out_of_memory", "network_loss"];
const QUERY_MAX = 10_000;

const delay = (ms: number) => new Promise((r) => setTimeout(r, ms).unref());

export class FlowchainNode extends EventEmitter implements FlowchainNodeApi {
  private td: Record<string, unknown> | undefined;
  private readonly puts = new RateMeter();
  private readonly startedAt = Date.now();
  private repairTimer: NodeJS.Timeout | undefined;
  private readonly copies: BranchCopies;
  private readonly local = new Map<string, Handler>();
  /** TD URLs of peers, learnt from their node.info, for `peers` and discovery. */
  private readonly thingUrls = new Map<string, string>();
  /** Keys of grants to this node whose transaction checked out (see refreshCoins). */
  private readonly checkedGrants = new Set<string>();
  private stopped = false;

  private constructor(
    private readonly standing: { coins: number; resources: Resources },
    readonly identity: Identity,
    readonly network: NetworkState,
    readonly ledger: Ledger,
    readonly net: PeerNetwork,
    readonly chord: ChordNode,
    private readonly placement: Placement,
    private readonly opts: Required<Pick<NodeOptions, "dataDir" | "stabilizeMs" | "repairMs">>,
    private readonly log: Logger,
  ) {
    super();
    this.copies = new BranchCopies(dataFiles(opts.dataDir).branchCopies);
  }

  get id(): string {
    return this.identity.id;
  }

  get networkId(): string {
    return this.network.networkId;
  }

  get addr(): string {
    return this.net.addr;
  }

  /** The join token for others, present on the node that created the network. */
  async joinToken(): Promise<string | undefined> {
    try {
      return (await readFile(dataFiles(this.opts.dataDir).joinToken, "utf8")).trim();
    } catch {
      return undefined;
    }
  }

  static async start(opts: NodeOptions): Promise<FlowchainNode> {
    const log = opts.log ?? createLogger();
    const files = dataFiles(opts.dataDir);
    const network = await prepareNetwork(
      opts.dataDir,
      { token: opts.token, name: opts.networkName, joining: opts.join !== undefined },
      log,
    );
    const identity = await Identity.loadOrCreate(opts.dataDir, files.nodeKey);
    // The ledger asks for reliability whenever it sets a target; the node fills these in.
    const standing = { coins: 0, resources: { ...LAPTOP_DEFAULTS } };
    const ledger = await Ledger.open({
      dir: files.ledger,
      identity,
      network: network.descriptor,
      hashesPerSecond: opts.hashesPerSecond,
      reliability: () => reliability(standing.coins, standing.resources),
      log: log.child({ part: "ledger" }),
    });
    const net = new PeerNetwork({
      signer: identity,
      networkId: network.networkId,
      adminPublicKey: network.descriptor.adminPublicKey,
      proof: network.proof,
      host: opts.host,
      port: opts.port,
      requestTimeoutMs: opts.requestTimeoutMs,
      log: log.child({ part: "net" }),
    });
    try {
      await net.listen();
    } catch (err) {
      await ledger.close();
      throw err;
    }
    const chord = new ChordNode({
      self: { id: identity.id, addr: net.addr },
      transport: new PeerChordTransport(net),
      successorListLength: opts.successorListLength,
      log: log.child({ part: "chord" }),
    });
    const placement = new Placement(ledger, net, chord, {
      replicas: opts.replicas ?? 3,
      writeQuorum: opts.writeQuorum ?? 2,
      log: log.child({ part: "placement" }),
    });
    const node = new FlowchainNode(
      standing,
      identity,
      network,
      ledger,
      net,
      chord,
      placement,
      { dataDir: opts.dataDir, stabilizeMs: opts.stabilizeMs ?? 500, repairMs: opts.repairMs ?? 30_000 },
      log,
    );
    try {
      node.wire();
      await node.enterRing(opts.join);
    } catch (err) {
      await node.stop();
      throw err;
    }
    return node;
  }

  private wire(): void {
    for (const m of CHORD_METHODS) {
      this.serve(m, (params, from) => this.chord.handle(m, params, from));
    }
    this.serve("node.info", async () => ({ id: this.id, addr: this.addr, td: this.td ?? null }));
    this.serve("store.put", async (params) => {
      const chunk = keyedChunk(params);
      if (!this.chord.isResponsibleFor(chunk.key)) {
        // Not an InputError: the caller's routing is stale, not its data, so it retries.
        throw new ConflictError("not_owner", "this node does not own the key");
      }
      if (chunk.source === FLOWCOIN_SOURCE) await checkGrant(this.approvalDeps(), chunk);
      const { record } = await this.placement.storeAsOwner(chunk);
      this.puts.mark();
      return record;
    });
    this.serve("store.replica", (params) =>
      this.placement.acceptReplicas((params as { records?: unknown })?.records),
    );
    this.serve("store.have", (params) => this.placement.missing((params as { keys?: unknown })?.keys));
    this.serve(
      "store.get",
      async (params) => (await this.placement.find(String((params as { key?: unknown })?.key))) ?? null,
    );
    this.serve("store.query", (params) => this.localQuery(params as QueryInput));
    this.serve("store.byTx", async (params) => {
      const txID = (params as { txID?: unknown })?.txID;
      if (typeof txID !== "string") return null;
      return (await this.ledger.getByTxID(txID)) ?? (await this.ledger.getReplicaByTxID(txID)) ?? null;
    });
    this.serve(
      "ledger.block",
      async (params) => (await this.blockByHash(String((params as { hash?: unknown })?.hash))) ?? null,
    );
    this.serve("flowcoin.verified", async (params, from) => {
      const p = params as { txID?: unknown; miner?: unknown };
      if (typeof p?.txID !== "string" || typeof p.miner !== "string")
        throw new InputError("bad_params", "txID and miner");
      this.emit("verified", { txID: p.txID, miner: p.miner, by: from.id });
      if (p.miner === this.id) void this.refreshCoins();
      return true;
    });
    // Members (and admitted tools) may ask any node to route for them, as an endpoint would.
    this.serve("node.put", (params) => this.put(params as PutInput));
    this.serve("node.get", (params) => this.get(String((params as { key?: unknown })?.key)));
    this.serve("node.ring", async () => this.ring());
    this.serve("node.approve", (params) => this.approve(params as { txID: string }));
    this.serve("node.balance", () => this.balance());
    this.serve("node.inventory", () => this.inventory());
    this.serve("node.condition", async (params) => {
      const c = params as { kind?: unknown; detail?: unknown };
      if (typeof c?.kind !== "string" || (c.detail !== undefined && typeof c.detail !== "string")) {
        throw new InputError("bad_condition", "a condition is {kind, detail?}");
      }
      await this.reportCondition({ kind: c.kind, detail: c.detail as string | undefined });
      return true;
    });

    this.net.on("peer", (p: PeerRef) => this.chord.addKnownPeer({ id: p.id, addr: p.addr }));
    this.ledger.on("block", (b: Block) =>
      this.emit("block", { height: b.height, hash: b.hash, miner: b.miner, time: b.timestamp }),
    );
    this.ledger.on("transaction", (doc: RecordDoc) => this.emit("transaction", doc));
    // Successors keep copies of this branch so an inventory can stand in for us while we are down.
    this.ledger.on("block", (block: Block) => this.copyToSuccessors("ledger.blockCopy", { block }));
    this.ledger.on("invalid", (invalid: { hash: string; reason: string }) =>
      this.copyToSuccessors("ledger.invalidCopy", { invalid }),
    );
    this.serve("ledger.blockCopy", (p, from) =>
      this.copies.addBlock(from.id, (p as { block?: unknown })?.block),
    );
    this.serve("ledger.invalidCopy", (p, from) =>
      this.copies.addInvalid(from.id, (p as { invalid?: unknown })?.invalid),
    );
    this.serve("ledger.branchCopy", async (p, from) => {
      const page = p as Partial<BranchPage>;
      if (!Array.isArray(page?.blocks) || !Array.isArray(page.invalid) || page.blocks.length > BRANCH_PAGE) {
        throw new InputError(
          "bad_params",
          `branchCopy takes {blocks, invalid} of at most ${BRANCH_PAGE} blocks`,
        );
      }
      for (const b of page.blocks) await this.copies.addBlock(from.id, b);
      for (const i of page.invalid) await this.copies.addInvalid(from.id, i);
      return true;
    });
    this.serve("ledger.copies", () => this.copies.miners());
    this.serve("ledger.copy", (p) => this.copies.branch(String((p as { miner?: unknown })?.miner)));
    this.serve("ledger.branch", (p) => this.branchPage(p));
    this.serve("ledger.checkpoint", (p) => this.storeCheckpoint((p as { checkpoint?: unknown })?.checkpoint));

    let pred: PeerRef | null = null;
    this.chord.on("predecessor", (p: PeerRef | null) => {
      const old = pred;
      pred = p;
      if (p) void this.placement.handoff(p, old);
      void this.placement.repair();
    });
    const copiedTo = new Set<string>();
    this.chord.on("successors", (list: PeerRef[]) => {
      for (const t of list.filter((p) => p.id !== this.id).slice(0, 2)) {
        if (copiedTo.has(t.id)) continue;
        copiedTo.add(t.id);
        this.copyBranchTo(t).catch(() => copiedTo.delete(t.id));
      }
      void this.savePeers(list);
      void this.placement.repair();
      this.emit("members", list);
    });
  }

  private async enterRing(join: string | undefined): Promise<void> {
    const candidates = join ? [join] : await this.savedPeers();
    let joined = false;
    for (const addr of candidates) {
      try {
        const info = (await this.net.call({ addr }, "node.info", {})) as { id: string; addr: string };
        if (info.id === this.id) continue;
        await this.chord.join({ id: info.id, addr: info.addr });
        joined = true;
        break;
      } catch (err) {
        this.log.warn("join attempt failed", { via: addr, err: errorText(err) });
      }
    }
    if (!joined) {
      if (join) throw new Error(`could not join the network through ${join}`);
      this.chord.create();
    }
    this.chord.start(this.opts.stabilizeMs);
    await writeFile(dataFiles(this.opts.dataDir).addr, this.addr + "\n");
    this.repairTimer = setInterval(
      () => void this.placement.repair().catch(() => undefined),
      this.opts.repairMs,
    );
    this.repairTimer.unref();
    void this.refreshCoins().catch(() => undefined);
  }

  private async savedPeers(): Promise<string[]> {
    try {
      const list = JSON.parse(await readFile(dataFiles(this.opts.dataDir).peers, "utf8")) as PeerRef[];
      return list.filter((p) => p.id !== this.id).map((p) => p.addr);
    } catch {
      return [];
    }
  }

  private async savePeers(list: PeerRef[]): Promise<void> {
    const others = list.filter((p) => p.id !== this.id);
    if (!others.length || this.stopped) return;
    await writeFile(dataFiles(this.opts.dataDir).peers, JSON.stringify(others) + "\n").catch(() => undefined);
  }

  async put(input: PutInput): Promise<PutResult> {
    if (typeof input !== "object" || input === null)
      throw new InputError("bad_chunk", "put takes {value, source?, timestamp?}");
    if (input.source === FLOWCOIN_SOURCE) {
      throw new InputError("reserved_source", `${FLOWCOIN_SOURCE} is written only by approvals`);
    }
    const chunk = keyedChunk({
      source: input.source ?? `urn:flowchain:node:${this.id}`,
      timestamp: input.timestamp ?? Date.now(),
      value: input.value,
    });
    return this.route(chunk);
  }

  /** Sends a validated chunk to successor(key), retrying while the ring repairs. */
  private async route(chunk: KeyedChunk): Promise<PutResult> {
    let lastError: unknown;
    for (let attempt = 0; attempt < PUT_ATTEMPTS; attempt++) {
      if (attempt > 0) await delay(Math.min(this.opts.stabilizeMs * attempt, 2000));
      try {
        // The owner checks the key is its own on arrival, so the first try skips confirming it.
        const { owner, hops } = await this.chord.lookup(chunk.key, { confirm: attempt > 0 });
        const record =
          owner.id === this.id
            ? (await this.placement.storeAsOwner(chunk)).record
            : ((await this.net.call(owner, "store.put", chunk)) as RecordDoc);
        if (owner.id === this.id) this.puts.mark();
        return {
          key: chunk.key,
          txID: record.txID,
          owner: record.miner as string,
          block: record.block as string,
          hops,
        };
      } catch (err) {
        if (err instanceof InputError) throw err;
        lastError = err;
        this.log.debug("put retry", { attempt, err: errorText(err) });
      }
    }
    throw new UnavailableError(
      "unavailable",
      `put failed after ${PUT_ATTEMPTS} attempts: ${errorText(lastError)}`,
    );
  }

  async get(key: string): Promise<RecordDoc> {
    if (typeof key !== "string" || !HEX64.test(key)) {
      throw new InputError("bad_key", "key must be 64 lowercase hex characters");
    }
    const local = await this.placement.find(key);
    if (local) return local;
    for (let attempt = 0; attempt < 4; attempt++) {
      if (attempt > 0) await delay(this.opts.stabilizeMs * attempt);
      try {
        const { owner } = await this.chord.lookup(key);
        if (owner.id === this.id) {
          const mine = await this.placement.find(key);
          if (mine) return mine;
        }
        for (const peer of await this.replicasOf(owner)) {
          try {
            const doc = (await this.net.call(peer, "store.get", { key })) as RecordDoc | null;
            if (doc) return doc;
          } catch {
            // dead replica: the next one may answer
          }
        }
        return Promise.reject(new NotFoundError(`no record with key ${key}`));
      } catch (err) {
        if (err instanceof NotFoundError) throw err;
      }
    }
    throw new NotFoundError(`no record with key ${key}`);
  }

  private async replicasOf(owner: PeerRef): Promise<PeerRef[]> {
    const out = [owner];
    try {
      out.push(...(await this.successorListOf(owner)).slice(0, 4));
    } catch {
      // the owner is down: its successor list from our side of the ring is the best guess
      out.push(...this.chord.successors().slice(0, 4));
    }
    return out;
  }

  private async localQuery(q: QueryInput): Promise<RecordDoc[]> {
    const out: RecordDoc[] = [];
    const limit = Math.min(q.limit ?? 100, QUERY_MAX);
    for await (const doc of this.ledger.query({ ...q, limit })) out.push(doc);
    return out;
  }

  async query(q: QueryInput): Promise<RecordDoc[]> {
    const limit = q.limit ?? 100;
    if (!Number.isInteger(limit) || limit < 1 || limit > QUERY_MAX) {
      throw new InputError("bad_limit", `limit must be an integer from 1 to ${QUERY_MAX}`);
    }
    const local = await this.localQuery({ ...q, limit });
    const members = await this.members();
    const remote = await Promise.all(
      members
        .filter((m) => m.id !== this.id)
        .map((m) =>
          (this.net.call(m, "store.query", { ...q, limit }) as Promise<RecordDoc[]>).catch(() => []),
        ),
    );
    const byKey = new Map<string, RecordDoc>();
    for (const doc of [local, ...remote].flat()) if (!byKey.has(doc.key)) byKey.set(doc.key, doc);
    return [...byKey.values()]
      .sort((a, b) => (a.timestamp as number) - (b.timestamp as number) || a.key.localeCompare(b.key))
      .slice(0, limit);
  }

  async members(): Promise<PeerRef[]> {
    return walkRing(this.chord.self, this.chord.successors(), async (p) =>
      p.id === this.id ? this.chord.successors() : this.successorListOf(p),
    );
  }

  private async successorListOf(p: PeerRef): Promise<PeerRef[]> {
    const r = (await this.net.call(p, "chord.getSuccessorList", {})) as { successors?: unknown };
    return peerList(r?.successors, "successors");
  }

  async approve(input: { txID: string }): Promise<ApproveResult> {
    return approve(this.approvalDeps(), input);
  }

  private approvalDeps(): ApprovalDeps {
    return {
      selfId: this.id,
      members: () => this.members(),
      call: (peer, method, params) => this.net.call(peer, method, params),
      localByTx: (txID) => this.ledger.getByTxID(txID),
      localBlock: (hash) => this.blockByHash(hash),
      find: (key) =>
        this.get(key).catch((err) => (err instanceof NotFoundError ? undefined : Promise.reject(err))),
      storeGrant: (chunk) => this.route(chunk),
      holdersOf: async (key) => this.replicasOf((await this.chord.lookup(key)).owner),
      emitVerified: (e) => this.emit("verified", e),
    };
  }

  private async blockByHash(hash: string): Promise<Block | undefined> {
    if (!HEX64.test(hash)) return undefined;
    return this.ledger.block(hash);
  }

  /**
   * Recounts this node's coins from the grant records in the network, counting a grant only once
   * the transaction it pays for has checked out (its own records, so the check is local and done
   * once per grant). A grant that does not check out now is tried again at the next count.
   */
  private async refreshCoins(): Promise<number> {
    const grants = await this.query({
      from: 0,
      to: Date.now() + 86_400_000,
      source: FLOWCOIN_SOURCE,
      limit: QUERY_MAX,
    });
    const mine = grants.filter((g) => isGrant(g) && g.value.to === this.id);
    for (const g of mine) {
      if (!this.checkedGrants.has(g.key) && (await grantHolds(this.approvalDeps(), g))) {
        this.checkedGrants.add(g.key);
      }
    }
    this.standing.coins = countCoins(
      mine.filter((g) => this.checkedGrants.has(g.key)),
      this.id,
    );
    return this.standing.coins;
  }

  /** Battery, bandwidth and signal as the device reports them (paper 5.4), and invalid conditions (4.1). */
  async report(input: ReportInput): Promise<ReportResult> {
    if (typeof input !== "object" || input === null)
      throw new InputError("bad_report", "report takes an object");
    const { condition, detail, ...resources } = input;
    if (condition !== undefined && (typeof condition !== "string" || !CONDITIONS.includes(condition))) {
      throw new InputError("bad_condition", `condition must be one of ${CONDITIONS.join(", ")}`);
    }
    if (detail !== undefined && typeof detail !== "string")
      throw new InputError("bad_condition", "detail must be a string");
    // Validate everything before changing anything.
    const next = parseResources(resources, this.standing.resources);
    this.standing.resources = next;
    let invalidated: string | null = null;
    if (condition) {
      invalidated = this.ledger.validBlock()?.hash ?? null;
      await this.reportCondition({ kind: condition, detail });
    }
    return { resources: { ...next }, reliability: reliability(this.standing.coins, next), invalidated };
  }

  async inventory(): Promise<InventoryResult> {
    const admin = this.network.admin;
    if (!admin) {
      throw new InputError(
        "not_admin_node",
        "this node does not hold the admin key: run inventory on the node that created the network",
      );
    }
    const { result } = await runInventory(
      { members: () => this.members(), call: (peer, method, params) => this.call(peer, method, params) },
      admin,
      this.network.descriptor,
    );
    return result;
  }

  private serve(method: string, handler: Handler): void {
    this.local.set(method, handler);
    this.net.handle(method, handler);
  }

  /** Peer RPC that short-circuits to this node's own handlers, so callers treat every member alike. */
  private call(peer: PeerRef, method: string, params: unknown): Promise<unknown> {
    const own = peer.id === this.id ? this.local.get(method) : undefined;
    return own ? own(params, { id: this.id, addr: this.addr }) : this.net.call(peer, method, params);
  }

  /** A new successor gets the whole branch once; after that, each block as it is mined. */
  private async copyBranchTo(target: PeerRef): Promise<void> {
    for (let from = 1; ; from += BRANCH_PAGE) {
      const page = await this.branchPage({ from, limit: BRANCH_PAGE });
      await this.net.call(target, "ledger.branchCopy", { blocks: page.blocks, invalid: page.invalid });
      if (!page.more) return;
    }
  }

  private copyToSuccessors(method: string, params: unknown): void {
    const targets = this.chord
      .successors()
      .filter((s) => s.id !== this.id)
      .slice(0, 2);
    for (const t of targets) {
      this.net
        .call(t, method, params)
        .catch((err) => this.log.debug("branch copy failed", { peer: t.id, err: errorText(err) }));
    }
  }

  private async branchPage(params: unknown): Promise<BranchPage> {
    const p = params as { from?: unknown; limit?: unknown };
    const from = typeof p?.from === "number" && Number.isSafeInteger(p.from) && p.from >= 1 ? p.from : 1;
    const limit = typeof p?.limit === "number" && p.limit >= 1 ? Math.min(p.limit, BRANCH_PAGE) : BRANCH_PAGE;
    const blocks: Block[] = [];
    const invalid: BranchPage["invalid"] = [];
    let more = false;
    for await (const b of this.ledger.blocks()) {
      if (b.height < from) continue;
      if (blocks.length === limit) {
        more = true;
        break;
      }
      blocks.push(b);
      const reason = await this.ledger.isInvalid(b.hash);
      if (reason !== undefined) invalid.push({ hash: b.hash, reason });
    }
    return { blocks, invalid, more };
  }

  private async storeCheckpoint(input: unknown): Promise<{ stored: string }> {
    const c = input as Checkpoint;
    const bad = verifyCheckpoint(c, this.network.descriptor);
    if (bad !== null) throw new InputError("bad_checkpoint", bad);
    const dir = dataFiles(this.opts.dataDir).checkpoints;
    await mkdir(dir, { recursive: true });
    const name = `${String(c.time).padStart(15, "0")}-${c.root.slice(0, 16)}.json`;
    await writeFile(join(dir, name), JSON.stringify(c) + "\n");
    return { stored: name };
  }

  ring(): RingInfo {
    return {
      id: this.id,
      predecessor: this.chord.predecessor(),
      successors: this.chord.successors(),
      fingers: this.chord.fingerSummary(),
    };
  }

  async chain(): Promise<ChainInfo> {
    const i = await this.ledger.info();
    return {
      height: i.height,
      head: i.head,
      validBlock: i.validBlock,
      difficulty: { tier: i.tier, target: i.target, reliability: i.reliability },
      recordsSealed: i.recordsSealed,
      recordsUnsealed: i.recordsUnsealed,
    };
  }

  async balance(): Promise<number> {
    return this.refreshCoins();
  }

  peers(): { id: string; addr: string; thing?: string }[] {
    const seen = new Map<string, { id: string; addr: string; thing?: string }>();
    const pred = this.chord.predecessor();
    for (const p of [...(pred ? [pred] : []), ...this.chord.successors()]) {
      if (p.id === this.id || seen.has(p.id)) continue;
      const thing = this.thingUrls.get(p.id);
      seen.set(p.id, thing ? { id: p.id, addr: p.addr, thing } : { id: p.id, addr: p.addr });
      // Learnt in the background: a property read must not wait on the network.
      if (!thing) void this.learnThing(p);
    }
    return [...seen.values()];
  }

  private async learnThing(p: PeerRef): Promise<Record<string, unknown> | undefined> {
    try {
      const td =
        ((await this.net.call(p, "node.info", {})) as { td: Record<string, unknown> | null }).td ?? undefined;
      const url = td && tdUrlOf(td);
      if (url) this.thingUrls.set(p.id, url);
      return td;
    } catch {
      return undefined;
    }
  }

  async stats(): Promise<NodeStats> {
    const i = await this.ledger.info();
    return {
      records: i.records,
      putsPerSecond: this.puts.perSecond(),
      uptimeSeconds: Math.round((Date.now() - this.startedAt) / 1000),
    };
  }

  isAdmin(token: string | undefined): boolean {
    return verifyAdminCredential(token, this.networkId, this.network.descriptor.adminPublicKey);
  }

  setThingDescription(td: Record<string, unknown>): void {
    this.td = td;
  }

  async directory(): Promise<Record<string, unknown>[]> {
    const members = await this.members();
    const tds = await Promise.all(members.map((m) => (m.id === this.id ? this.td : this.learnThing(m))));
    return tds.filter((td): td is Record<string, unknown> => td !== undefined);
  }

  async reportCondition(condition: { kind: string; detail?: string }): Promise<void> {
    await this.ledger.invalidate(
      condition.detail ? `${condition.kind}: ${condition.detail}` : condition.kind,
    );
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.repairTimer) clearInterval(this.repairTimer);
    this.chord.stop();
    await this.net.close().catch(() => undefined);
    await this.ledger.close();
  }
}

/** Where a Thing's TD is served: /.well-known/wot on the origin of its HTTP forms. */
function tdUrlOf(td: Record<string, unknown>): string | undefined {
  for (const kind of ["properties", "actions", "events"]) {
    const affordances = (td[kind] ?? {}) as Record<string, { forms?: { href?: string }[] }>;
    for (const a of Object.values(affordances)) {
      const href = a.forms?.find((f) => f.href?.startsWith("http"))?.href;
      if (href) return new URL("/.well-known/wot", href).href;
    }
  }
  return undefined;
}
