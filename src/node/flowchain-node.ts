// One Flowchain node: the composition root. It builds the parts (ring, peer transport, ledger,
// placement, routing, Flowcoin, branch copies, directory), wires their events, serves the peer
// protocol and implements FlowchainNodeApi by delegating. Logic lives in the parts; what is left
// here is construction order and event wiring, which read best in one place.
import { EventEmitter } from "node:events";
import { readFile, writeFile } from "node:fs/promises";
import { ChordNode } from "../chord/node.js";
import type { PeerRef } from "../chord/transport.js";
import { CHORD_METHODS } from "../chord/wire.js";
import type { Block } from "../ledger/block.js";
import { Identity } from "../ledger/identity.js";
import { Ledger, type LedgerOptions } from "../ledger/ledger.js";
import { genesisBlock } from "../ledger/genesis.js";
import type { RecordDoc } from "../ledger/record.js";
import type { Checkpoint } from "../ledger/inventory.js";
import { PeerNetwork, type Handler } from "../net/index.js";
import { createLogger, type Logger } from "../log.js";
import { AuthError, errorText, UnavailableError } from "../util/errors.js";
import { isJoinToken } from "../net/membership.js";
import type {
  ApproveResult,
  ChainInfo,
  BranchSummary,
  BranchView,
  FlowchainNodeApi,
  InventoryResult,
  NodeEvents,
  NodeStats,
  ProofDoc,
  PutInput,
  RecordDoc as RecordJson,
  PutResult,
  QueryInput,
  QueryResult,
  ReportInput,
  ReportResult,
  RingInfo,
} from "./api.js";
import { checkCredential, type CredentialCheck } from "./credentials.js";
import { RECENT_BLOCKS } from "./protocol/shapes.js";
import type { Approver } from "./approval.js";
import {
  EXPIRED_HINT,
  forgetFailedJoin,
  prepareNetwork,
  TOKEN_HINT,
  type NetworkState,
} from "./bootstrap.js";
import { exchangeJoinToken } from "./membership-exchange.js";
import { BranchCopies } from "./branch-copies.js";
import { BranchProofs } from "./branch-proofs.js";
import { BranchSync } from "./branch-sync.js";
import { CheckpointStore, latestCheckpoint } from "./checkpoints.js";
import { CrashRecovery } from "./crash-recovery.js";
import { dataFiles } from "./data-dir.js";
import { DeviceReport, Standing } from "./device-report.js";
import { Flowcoin } from "./flowcoin.js";
import { handlers } from "./handlers/index.js";
import { inventoryOnAdminNode } from "./inventory.js";
import { RingMembers } from "./members.js";
import type { NodeTransport, TransportFactory } from "./node-transport.js";
import { PeerChordTransport } from "./peer-chord-transport.js";
import { PeerStore } from "./peer-store.js";
import { Proofs } from "./proofs.js";
import { joinOrStartAlone } from "./ring-entry.js";
import { Placement } from "./placement.js";
import { PeerClient } from "./protocol/peer-client.js";
import { serve } from "./protocol/serve.js";
import { RateMeter } from "./rate-meter.js";
import { RingQuery } from "./ring-query.js";
import { Router } from "./router.js";
import { Revocations, verifyRevocation, type Revocation } from "./revocations.js";
import { ThingDirectory } from "./thing-directory.js";

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
  /**
   * Plain ws:// peer links instead of TLS 1.3 (src/net/tls-cert.ts), for benchmarks only: tokens,
   * records and blocks then cross the network in clear. Every member of a network must agree.
   */
  insecurePeers?: boolean;
  log?: Logger;
}

/** Collaborators a test may replace: the peer transport (in-memory twin) and ledger tuning. */
export interface NodeComponents {
  createTransport?: TransportFactory;
  ledger?: Partial<Pick<LedgerOptions, "workers" | "blockIntervalMs" | "sync">>;
}

const delay = (ms: number) => new Promise<void>((r) => setTimeout(r, ms).unref());

interface Parts {
  identity: Identity;
  revocations: Revocations;
  network: NetworkState;
  ledger: Ledger;
  net: NodeTransport;
  chord: ChordNode;
  standing: Standing;
}

export class FlowchainNode extends EventEmitter<NodeEvents> implements FlowchainNodeApi {
  readonly identity: Identity;
  readonly network: NetworkState;
  readonly ledger: Ledger;
  readonly net: NodeTransport;
  readonly chord: ChordNode;
  private readonly standing: Standing;
  private readonly puts = new RateMeter();
  private readonly startedAt = Date.now();
  private readonly client: PeerClient;
  private readonly members: RingMembers;
  private readonly placement: Placement;
  private readonly router: Router;
  private readonly ringQuery: RingQuery;
  private readonly flowcoin: Flowcoin;
  private readonly branchSync: BranchSync;
  private readonly things: ThingDirectory;
  private readonly device: DeviceReport;
  private readonly peerStore: PeerStore;
  private readonly copies: BranchCopies;
  private readonly revocations: Revocations;
  /** Successors already sent this node's revocations (a node that was down when one spread). */
  private readonly toldRevocations = new Set<string>();
  /** Is a record's block in its miner's branch (what replicas and approvals need). */
  private readonly proofs: BranchProofs;
  private readonly recovery: CrashRecovery;
  private readonly checkpoints: CheckpointStore;
  /** Inclusion proofs handed to clients (ledger/proof.ts). */
  private readonly inclusion: Proofs;
  private local: ReadonlyMap<string, Handler> = new Map();
  private repairTimer: NodeJS.Timeout | undefined;
  private stopped = false;
  /** Set once this node has seen another member (or has saved peers): from then on a put needs w copies. */
  private hadPeers = false;

  private constructor(
    parts: Parts,
    private readonly opts: NodeOptions & { stabilizeMs: number; repairMs: number },
    private readonly log: Logger,
  ) {
    super();
    ({
      identity: this.identity,
      network: this.network,
      ledger: this.ledger,
      net: this.net,
      chord: this.chord,
      standing: this.standing,
    } = parts);
    const { ledger, chord } = this;
    this.client = new PeerClient({
      transport: this.net,
      selfId: this.identity.id,
      selfAddr: () => this.net.addr,
      local: () => this.local,
    });
    const client = this.client;
    this.members = new RingMembers({ chord, client });
    this.copies = new BranchCopies(dataFiles(opts.dataDir).branchCopies);
    this.revocations = parts.revocations;
    const revocations = this.revocations;
    const copies = this.copies;
    this.proofs = new BranchProofs({
      selfId: this.identity.id,
      genesisHash: genesisBlock(this.network.descriptor).hash,
      ownBlock: (hash) => ledger.block(hash),
      localCopy: async (miner) => (await copies.branch(miner))?.blocks ?? null,
      fetch: async (peer, miner, from) => {
        if (peer.id === miner) return client.call(peer, "ledger.branch", { from });
        const copy = await client.call(peer, "ledger.copy", { miner });
        return copy ? { blocks: copy.blocks, more: false } : null;
      },
      known: () => [...chord.successors(), ...chord.knownMembers()],
      isRevoked: (id) => revocations.has(id),
    });
    this.recovery = new CrashRecovery({
      ledger,
      client,
      holders: async () => (await this.members.holders(chord.self)).filter((p) => p.id !== this.id),
      acceptTwin: (doc, via) => this.placement.acceptReplicas([doc], via),
      log: log.child({ part: "recovery" }),
    });
    this.placement = new Placement(
      {
        ledger,
        client,
        chord,
        proofs: this.proofs,
        hasHadPeers: () => this.hadPeers,
        recovery: this.recovery,
      },
      {
        replicas: opts.replicas ?? 3,
        writeQuorum: opts.writeQuorum ?? 2,
        log: log.child({ part: "placement" }),
      },
    );
    this.router = new Router(
      {
        chord,
        ledger,
        placement: this.placement,
        client,
        members: this.members,
        puts: this.puts,
        log,
        delay,
        hasHadPeers: () => this.hadPeers,
      },
      { stabilizeMs: opts.stabilizeMs, replicas: opts.replicas ?? 3, writeQuorum: opts.writeQuorum ?? 2 },
    );
    this.ringQuery = new RingQuery({
      selfId: () => this.id,
      ledger,
      client,
      members: this.members,
      ownRange: () => {
        const pred = chord.predecessor();
        return pred ? { from: pred.id, to: this.id } : null;
      },
    });
    this.flowcoin = new Flowcoin({
      selfId: this.id,
      ledger,
      client,
      members: this.members,
      router: this.router,
      ringQuery: this.ringQuery,
      lookupOwner: async (key) => (await chord.lookup(key)).owner,
      proofs: this.proofs,
      standing: this.standing,
      emitVerified: (e) => this.emit("verified", e),
      now: Date.now,
    });
    this.branchSync = new BranchSync({ ledger, chord, client, log, sign: (t) => this.identity.sign(t) });
    this.things = new ThingDirectory({ chord, client, members: this.members });
    this.device = new DeviceReport({ ledger, standing: this.standing });
    this.peerStore = new PeerStore({ file: dataFiles(opts.dataDir).peers, selfId: this.id });
    this.checkpoints = new CheckpointStore({
      dir: dataFiles(opts.dataDir).checkpoints,
      network: this.network.descriptor,
    });
    this.inclusion = new Proofs({
      selfId: this.id,
      ledger,
      network: this.network,
      checkpoints: this.checkpoints,
      members: () => this.members.all(),
      client,
    });
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

  static async start(opts: NodeOptions, components: NodeComponents = {}): Promise<FlowchainNode> {
    const log = opts.log ?? createLogger();
    const files = dataFiles(opts.dataDir);
    const network = await prepareNetwork(
      opts.dataDir,
      { token: opts.token, name: opts.networkName, joining: opts.join !== undefined },
      log,
    );
    const identity = await Identity.loadOrCreate(opts.dataDir, files.nodeKey);
    // The ledger asks for reliability whenever it sets a target; the node keeps the standing.
    const standing = new Standing();
    const ledger = await Ledger.open({
      dir: files.ledger,
      identity,
      network: network.descriptor,
      hashesPerSecond: opts.hashesPerSecond,
      reliability: () => standing.reliability(),
      log: log.child({ part: "ledger" }),
      ...components.ledger,
    });
    const revocations = new Revocations(files.revoked, {
      networkId: network.networkId,
      adminPublicKey: network.descriptor.adminPublicKey,
    });
    await revocations.load();
    const createTransport = components.createTransport ?? ((init) => new PeerNetwork(init));
    let net: NodeTransport;
    try {
      net = createTransport({
        signer: identity,
        networkId: network.networkId,
        adminPublicKey: network.descriptor.adminPublicKey,
        proof: network.proof,
        host: opts.host,
        port: opts.port,
        requestTimeoutMs: opts.requestTimeoutMs,
        tls: !opts.insecurePeers,
        log: log.child({ part: "net" }),
      });
      await net.listen();
    } catch (err) {
      await ledger.close();
      if (network.firstJoin) await forgetFailedJoin(opts.dataDir);
      throw err;
    }
    const chord = new ChordNode({
      self: { id: identity.id, addr: net.addr },
      transport: new PeerChordTransport(net),
      successorListLength: opts.successorListLength,
      log: log.child({ part: "chord" }),
    });
    const node = new FlowchainNode(
      { identity, network, ledger, net, chord, standing, revocations },
      { ...opts, stabilizeMs: opts.stabilizeMs ?? 500, repairMs: opts.repairMs ?? 30_000 },
      log,
    );
    try {
      if (network.firstJoin && opts.join !== undefined && isJoinToken(network.proof))
        await exchangeJoinToken(net, opts.join, network, files.proof);
      await node.recovery.load();
      node.wire();
      await node.enterRing(opts.join);
    } catch (err) {
      await node.stop();
      if (!network.firstJoin) throw err;
      // A first join that failed leaves nothing behind: a wrong token must not bind the directory.
      await forgetFailedJoin(opts.dataDir);
      throw new UnavailableError(
        "join_failed",
        `could not join through ${opts.join}: ${errorText(err)}. Nothing was kept in ${opts.dataDir}; ${
          (err as { code?: string }).code === "expired_join_token"
            ? EXPIRED_HINT
            : `if the token is wrong, ${TOKEN_HINT}`
        }`,
      );
    }
    return node;
  }

  private wire(): void {
    for (const r of this.revocations.list()) this.net.ban?.(r.member);
    // A removed member is refused at every method, whatever the transport did with its connection.
    const guard =
      (h: Handler): Handler =>
      (params, from) => {
        if (this.revocations.has(from.id))
          throw new AuthError("revoked", "this member was removed by the admin");
        return h(params, from);
      };
    for (const m of CHORD_METHODS)
      this.net.handle(
        m,
        guard((params, from) => this.chord.handle(m, params, from)),
      );
    this.local = serve(
      { handle: (m, h) => this.net.handle(m, guard(h)) },
      handlers({
        api: this,
        addr: () => this.addr,
        chord: this.chord,
        ledger: this.ledger,
        router: this.router,
        ringQuery: this.ringQuery,
        placement: this.placement,
        flowcoin: this.flowcoin,
        branchSync: this.branchSync,
        copies: this.copies,
        checkpoints: this.checkpoints,
        proofs: this.inclusion,
        things: this.things,
        revoke: (r) => this.revoke(r),
        membershipProof: () => {
          if (isJoinToken(this.network.proof))
            throw new UnavailableError("no_membership", "this node is still joining");
          return this.network.proof;
        },
        isRevoked: (id) => this.revocations.has(id),
      }),
    );

    this.net.on("peer", (p: PeerRef) => this.chord.addKnownPeer({ id: p.id, addr: p.addr }));
    this.ledger.on("block", (b: Block) => {
      this.emit("block", { height: b.height, hash: b.hash, miner: b.miner, time: b.timestamp });
      // Successors keep copies of this branch so an inventory can stand in for us while we are down.
      this.branchSync.onBlock(b);
    });
    this.ledger.on("transaction", (doc: RecordDoc) => this.emit("transaction", doc));
    this.ledger.on("invalid", (invalid: { hash: string; reason: string }) =>
      this.branchSync.onInvalid(invalid),
    );

    let pred: PeerRef | null = null;
    this.chord.on("predecessor", (p: PeerRef | null) => {
      const old = pred;
      pred = p;
      if (p) void this.placement.handoff(p, old);
      void this.placement.repair();
    });
    // Every member the ring has seen, kept across restarts: where to rejoin from, and whom to probe
    // for the other side of a partition.
    this.chord.on("members-book", (book: PeerRef[]) => {
      if (!this.stopped) void this.peerStore.save(book);
    });
    this.chord.on("successors", (list: PeerRef[]) => {
      if (list.some((p) => p.id !== this.id)) this.hadPeers = true;
      this.branchSync.onSuccessors(list);
      this.tellRevocations(list);
      void this.placement.repair();
      this.emit("members", list);
    });
  }

  private async enterRing(join: string | undefined): Promise<void> {
    const { hadPeers } = await joinOrStartAlone(
      { chord: this.chord, client: this.client, peerStore: this.peerStore, selfId: this.id, log: this.log },
      join,
    );
    if (hadPeers) this.hadPeers = true;
    this.chord.start(this.opts.stabilizeMs);
    await writeFile(dataFiles(this.opts.dataDir).addr, this.addr + "\n");
    this.repairTimer = setInterval(
      () => void this.placement.repair().catch(() => undefined),
      this.opts.repairMs,
    );
    this.repairTimer.unref();
    void this.settleAfterCrash();
    void this.flowcoin.refresh().catch(() => undefined);
  }

  /** Once the ring around this node is known: its successors hold what the crash left to check. */
  private async settleAfterCrash(): Promise<void> {
    const hasPeer = (list: PeerRef[]) => list.some((p) => p.id !== this.id);
    if (!hasPeer(this.chord.successors())) {
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          this.chord.off("successors", check);
          resolve();
        };
        const check = (list: PeerRef[]) => hasPeer(list) && done();
        const timer = setTimeout(done, 10_000);
        this.chord.on("successors", check);
      });
    }
    await this.recovery.run();
  }

  put(input: PutInput): Promise<PutResult> {
    return this.router.put(input);
  }

  async get(key: string, opts: { proof?: boolean } = {}): Promise<RecordJson> {
    const record = await this.router.get(key);
    if (!opts.proof) return record;
    return { ...record, proof: await this.inclusion.proof(record.txID) };
  }

  proof(input: { txID: string }): Promise<ProofDoc> {
    return this.inclusion.proof(input?.txID) as unknown as Promise<ProofDoc>;
  }

  query(q: QueryInput): Promise<QueryResult> {
    return this.ringQuery.query(q);
  }

  approve(input: { txID: string }, by?: Approver): Promise<ApproveResult> {
    return this.flowcoin.approve(input?.txID, by);
  }

  report(input: ReportInput): Promise<ReportResult> {
    return this.device.report(input);
  }

  reportCondition(condition: { kind: string; detail?: string }): Promise<void> {
    return this.device.condition(condition);
  }

  inventory(): Promise<InventoryResult> {
    return inventoryOnAdminNode(this.network, {
      members: () => this.members.all(),
      client: this.client,
      isRevoked: (id) => this.revocations.has(id),
      grants: () => this.flowcoin.validGrants(),
    });
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

  /** This node's branch at a glance: chain state and the latest RECENT_BLOCKS blocks. */
  async branch(): Promise<BranchSummary> {
    const chain = await this.chain();
    const recent: BranchSummary["recent"] = [];
    for (let h = Math.max(1, chain.height - RECENT_BLOCKS + 1); h <= chain.height; h++) {
      const b = await this.ledger.blockAt(h);
      if (b === undefined) continue;
      recent.push({
        height: b.height,
        hash: b.hash,
        timestamp: b.timestamp,
        invalid: (await this.ledger.isInvalid(b.hash)) ?? null,
      });
    }
    return { id: this.id, ...chain, recent };
  }

  /**
   * Every member's branch, asked of the member itself: the explorer shows live branches without
   * any request leaving its node. A member that does not answer within the call timeout is null.
   */
  async branches(): Promise<BranchView[]> {
    const others = (await this.members.all()).filter((m) => m.id !== this.id);
    const views = await Promise.all(
      others.map(async (m) => ({ id: m.id, branch: await this.client.tryCall(m, "node.branch", {}, null) })),
    );
    return [{ id: this.id, branch: await this.branch() }, ...views].sort((a, b) => (a.id < b.id ? -1 : 1));
  }

  balance(): Promise<number> {
    return this.flowcoin.refresh();
  }

  async checkpoint(): Promise<Checkpoint | null> {
    return latestCheckpoint(await this.checkpoints.all());
  }

  peers(): { id: string; addr: string; thing?: string }[] {
    return this.things.peers();
  }

  async stats(): Promise<NodeStats> {
    const i = await this.ledger.info();
    return {
      records: i.records,
      putsPerSecond: this.puts.perSecond(),
      uptimeSeconds: Math.round((Date.now() - this.startedAt) / 1000),
    };
  }

  /**
   * An admin-signed removal of a member: checked, kept, and applied (its connections closed and
   * refused, its records refused, its branch copies no longer handed out); a new one is passed
   * to every member this node can reach.
   */
  async revoke(r: Revocation): Promise<{ new: boolean }> {
    const { networkId, descriptor } = this.network;
    if (!verifyRevocation(r, { networkId, adminPublicKey: descriptor.adminPublicKey })) {
      throw new AuthError("bad_revocation", "a revocation must be signed by the network's admin key");
    }
    const fresh = await this.revocations.add(r);
    if (!fresh) return { new: false };
    this.log.warn("member removed by the admin", { member: r.member });
    this.proofs.forget(r.member);
    this.net.ban?.(r.member);
    if (r.member !== this.id) {
      const members = (await this.members.all()).filter((m) => m.id !== this.id && m.id !== r.member);
      await Promise.all(members.map((m) => this.client.tryCall(m, "member.revoke", { revocation: r }, null)));
    }
    return { new: true };
  }

  /** A successor this node has not told yet (it may have been down) gets every revocation. */
  private tellRevocations(list: PeerRef[]): void {
    const all = this.revocations.list();
    if (all.length === 0) return;
    for (const p of list) {
      if (p.id === this.id || this.toldRevocations.has(p.id)) continue;
      this.toldRevocations.add(p.id);
      for (const revocation of all) void this.client.tryCall(p, "member.revoke", { revocation }, null);
    }
  }

  checkCredential(token: string): CredentialCheck {
    return checkCredential(token, this.networkId, this.network.descriptor.adminPublicKey);
  }

  isAdmin(token: string | undefined): boolean {
    if (token === undefined) return false;
    const checked = this.checkCredential(token);
    return checked.ok && checked.credential.role === "admin";
  }

  setThingDescription(td: Record<string, unknown>): void {
    this.things.setOwn(td);
  }

  directory(): Promise<Record<string, unknown>[]> {
    return this.things.all();
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.repairTimer) clearInterval(this.repairTimer);
    this.recovery.stop();
    this.chord.stop();
    await this.placement.close();
    await this.net.close().catch(() => undefined);
    await this.ledger.close();
  }
}
