// One Chord ring member, following Zave's corrected Chord ("Reasoning about identifier spaces: how
// to make Chord correct", 2017): a successor list of length r, join by adopting the successor's
// list, stabilize that skips dead entries and adopts the successor's predecessor only when it is
// live and strictly between, rectify instead of notify. Failure detection is the Flowchain paper's
// CHECK_SUCCESSOR with a TTL (section 5.3). No sockets here: everything goes through ChordTransport.
//
// This file composes the parts and keeps membership (create, join):
//   routing-state.ts  successor list, predecessor, fingers, known peers, failure counts, events
//   lookup.ts         iterative lookup of successor(key)
//   maintenance.ts    check_predecessor, stabilize + rectify, fix_fingers, TTL drops, rejoin
//   rpc-handlers.ts   the ring RPCs this node answers
//   member-book.ts    every member seen, failing ones kept as probe candidates (partitions)
//   ring-merge.ts     probes of the book that find another ring and zip it into ours
import { EventEmitter } from "node:events";
import { silentLogger, type Logger } from "../log.js";
import { InputError } from "../util/errors.js";
import { ID_BITS, fromBig, toBig } from "./id.js";
import { Lookup, type LookupResult } from "./lookup.js";
import { Maintenance } from "./maintenance.js";
import { MemberBook, type MemberBookOptions } from "./member-book.js";
import { seededRandom } from "./prng.js";
import { RingMerge, type ProbeOutcome } from "./ring-merge.js";
import { RoutingState, type ChordNodeEvents } from "./routing-state.js";
import { ChordRpcHandlers } from "./rpc-handlers.js";
import type { ChordMethod, ChordTransport, PeerRef } from "./transport.js";
import { parseNeighbors, peerRef } from "./wire.js";

export type { LookupResult } from "./lookup.js";
export type { ChordNodeEvents } from "./routing-state.js";
export type { MemberBookOptions } from "./member-book.js";
export type { ProbeOutcome } from "./ring-merge.js";

export interface ChordNodeOptions {
  self: PeerRef;
  transport: ChordTransport;
  /** r: successors kept. Zave: the ring survives any r-1 simultaneous failures of neighbours. */
  successorListLength?: number;
  /**
   * Consecutive failed requests before a peer is dropped. Default 2: a single timeout (a lost
   * frame, a GC pause on the peer) only marks the peer suspect, which routing already avoids; a
   * second one in the next round removes it. So a crashed successor is gone after two rounds while
   * a live one survives a transient blip, and the ring never reassigns keys on one missed reply.
   */
  ttl?: number;
  /**
   * The member book: size (default 1024), and how long a member that stopped answering stays a
   * probe candidate (default: until it failed 8 probes and 10 minutes passed since its first
   * failure, because the far side of a partition looks exactly like dead nodes); `now` for tests.
   */
  memberBook?: MemberBookOptions;
  /**
   * Mean maintenance rounds between two ring-merge probes (default 4; randomized; every round
   * while alone or while hints wait). Each probe is one lookup through a member outside our
   * neighbours, looking for another ring to merge with.
   */
  probeEvery?: number;
  log?: Logger;
}

export class ChordNode extends EventEmitter<ChordNodeEvents> {
  readonly self: PeerRef;
  private readonly transport: ChordTransport;
  private readonly log: Logger;
  private readonly state: RoutingState;
  private readonly lookups: Lookup;
  private readonly maintenance: Maintenance;
  private readonly rpc: ChordRpcHandlers;
  private readonly merge: RingMerge;

  constructor(opts: ChordNodeOptions) {
    super();
    this.self = peerRef(opts.self, "self");
    this.transport = opts.transport;
    const r = opts.successorListLength ?? 8;
    const ttl = opts.ttl ?? 2;
    if (!Number.isInteger(r) || r < 1) throw new RangeError("successorListLength must be an integer >= 1");
    if (!Number.isInteger(ttl) || ttl < 1) throw new RangeError("ttl must be an integer >= 1");
    this.log = (opts.log ?? silentLogger).child({ chord: this.self.id.slice(0, 8) });
    const book = new MemberBook(this.self, opts.memberBook);
    const state = new RoutingState({ events: this }, { self: this.self, successorListLength: r, book });
    this.state = state;
    this.lookups = new Lookup({ state, transport: this.transport });
    const probeEvery = opts.probeEvery ?? 4;
    if (!(probeEvery >= 1)) throw new RangeError("probeEvery must be >= 1");
    this.merge = new RingMerge(
      {
        state,
        transport: this.transport,
        lookupVia: (start, key) => this.lookups.lookupFrom([start], key, false),
        random: seededRandom(Number.parseInt(this.self.id.slice(0, 8), 16)),
        log: this.log,
      },
      { probeEvery },
    );
    this.maintenance = new Maintenance(
      {
        state,
        transport: this.transport,
        lookup: (key) => this.lookups.lookup(key),
        join: (via) => this.join(via),
        merge: this.merge,
        log: this.log,
      },
      { ttl },
    );
    this.rpc = new ChordRpcHandlers({ state });
  }

  // ---- membership -------------------------------------------------------------------------

  /** Starts a one-node ring: no successors, no predecessor; every key is ours until someone joins. */
  create(): void {
    this.state.enterRing([]);
  }

  /**
   * Zave's join: find the first node after our id through `via`, adopt it and its successor list.
   * Predecessor stays unknown until someone rectifies us; stabilize tells the successor about us.
   */
  async join(via: PeerRef): Promise<void> {
    const entry = peerRef(via, "join via");
    if (entry.id === this.self.id) throw new InputError("join_self", "cannot join through ourselves");
    // Look up id+1, not our id: a restarted node still listed by others would otherwise find itself.
    const found = await this.lookups.lookupFrom([entry], fromBig(toBig(this.self.id) + 1n), false);
    const owner = found.owner;
    if (owner.id === this.self.id) {
      if (owner.addr !== this.self.addr) throw new InputError("duplicate_id", "another node uses our id");
      throw new Error("chord: join found only ourselves");
    }
    const nb = parseNeighbors(await this.transport.call(owner, "chord.neighbors", {}));
    this.state.success(owner);
    this.log.info("joined", { via: entry.id, successor: owner.id, hops: found.hops });
    this.state.enterRing(this.state.buildList([owner], nb.successors));
  }

  /**
   * Remembers a member (persisted from an earlier run, or met on an authenticated connection). A
   * member new to us, or one that had stopped answering, is probed soon: it may be in another ring.
   */
  addKnownPeer(p: PeerRef): void {
    this.state.addKnownPeer(peerRef(p, "known peer"));
  }

  /**
   * Every member in the member book, most recently seen first, failing ones included (they may be
   * across a partition). What the node layer persists; `members-book` announces changes.
   */
  knownMembers(): PeerRef[] {
    return this.state.book.members();
  }

  // ---- state --------------------------------------------------------------------------------

  /** First successor not currently suspected; self when alone (or when every entry is suspect). */
  successor(): PeerRef {
    return this.state.successor();
  }

  /** The successor list without suspects: what replication and routing should use. */
  successors(): PeerRef[] {
    return this.state.successors();
  }

  /** The stored list, suspects included (for diagnostics and for checking full repair). */
  rawSuccessorList(): PeerRef[] {
    return this.state.rawSuccessorList();
  }

  predecessor(): PeerRef | null {
    return this.state.predecessor();
  }

  isInRing(): boolean {
    return this.state.isInRing();
  }

  /** key in (predecessor, self]; a lone node owns everything, an unknown predecessor owns nothing. */
  isResponsibleFor(key: string): boolean {
    return this.state.isResponsibleFor(key);
  }

  fingerSummary(): { distinct: number; entries: { start: number; id: string }[] } {
    return this.state.fingerSummary();
  }

  // ---- incoming RPCs ------------------------------------------------------------------------

  /**
   * Answers one ring RPC. `from` is the authenticated sender supplied by the transport, never a
   * field of the payload. Junk params throw InputError and change nothing.
   */
  handle(method: ChordMethod, params: unknown, from?: PeerRef): Promise<unknown> {
    return this.rpc.handle(method, params, from);
  }

  // ---- maintenance --------------------------------------------------------------------------

  tick(): Promise<void> {
    return this.maintenance.tick();
  }

  start(intervalMs: number): void {
    this.maintenance.start(intervalMs);
  }

  stop(): void {
    this.maintenance.stop();
  }

  checkPredecessor(): Promise<void> {
    return this.maintenance.checkPredecessor();
  }

  stabilize(): Promise<void> {
    return this.maintenance.stabilize();
  }

  fixFingers(count: number = ID_BITS): Promise<void> {
    return this.maintenance.fixFingers(count);
  }

  /**
   * One ring-merge probe of `peer` now, outside the round schedule: looks up our successor in
   * peer's ring and merges if it is another ring (see ring-merge.ts). tick() does this by itself.
   */
  probeMember(peer: PeerRef): Promise<ProbeOutcome> {
    return this.merge.probe(peerRef(peer, "probe"));
  }

  // ---- lookup -------------------------------------------------------------------------------

  /**
   * Iterative lookup of successor(key), starting from our own routing state. `confirm: false`
   * skips the final round trip to the owner (see Lookup.lookup).
   */
  lookup(key: string, opts: { confirm?: boolean } = {}): Promise<LookupResult> {
    return this.lookups.lookup(key, opts);
  }
}
