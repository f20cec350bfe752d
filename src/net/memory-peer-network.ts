// An in-process PeerTransport for node-level tests: members of one MemoryPeerHub call each other
// with the real network's semantics and without sockets. What it copies from PeerNetwork:
// - membership: a network whose own proof fails assertOwnProof cannot be built; a pair of
//   members authenticate each other with the handshake's checkHello on first contact, so a
//   member of another network (or admin key) is refused with the same AuthError;
// - the handler's `from` is the calling network, as the hub knows it, never a payload field;
// - params and results cross as JSON copies; a request or result over maxFrameBytes fails with
//   NetError("too_large"); a handler's error reaches the caller through toWireError/fromWireError;
// - NetError "unreachable" (nobody listens at the address), "timeout" (per call), "closed",
//   "unknown_method"; AuthError "peer_mismatch" when the expected id differs;
// - every call settles asynchronously, at the earliest on a later turn of the event loop.
// The hub adds fault hooks: partitions, cut links, link delays and crashes (see MemoryPeerHub).
import { EventEmitter } from "node:events";
import { silentLogger, type Logger } from "../log.js";
import { AuthError, InputError } from "../util/errors.js";
import { fromWireError, NetError, toWireError, type WireError } from "./frame.js";
import { checkHello, createHello } from "./handshake.js";
import { assertOwnProof } from "./membership.js";
import {
  HandlerTable,
  type CallOptions,
  type CallTarget,
  type Handler,
  type PeerInfo,
  type PeerTransport,
  type PeerTransportEvents,
} from "./peer-transport.js";
import type { NodeSigner } from "./signer.js";

export interface MemoryPeerNetworkOptions {
  signer: NodeSigner;
  networkId: string;
  adminPublicKey: string;
  /** This node's membership token (or, while it joins, its join token): shown to peers in every handshake. */
  proof: string;
  /** "host:port" to listen on (a restart reuses its old one); default: the hub assigns one. */
  addr?: string;
  /** Largest request or result; default 1 MiB, as PeerNetwork. */
  maxFrameBytes?: number;
  /** Default per-call timeout; default 3000 ms, as PeerNetwork. */
  requestTimeoutMs?: number;
  log?: Logger;
}

type State = "new" | "open" | "crashed" | "closed";

/** One call in flight, from the caller's side. */
interface Call {
  from: MemoryPeerNetwork;
  settled: boolean;
  resolve(v: unknown): void;
  reject(e: Error): void;
  timer: NodeJS.Timeout;
}

type Outcome = { ok: true; result: unknown } | { ok: false; error: WireError };

const ADDR = /^\S+:\d{1,5}$/;

/** A name in a fault hook: a network's address or its id. */
const named = (net: MemoryPeerNetwork, name: string) => net.addrOrUndefined === name || net.id === name;

/**
 * The medium the MemoryPeerNetworks of one test share: it assigns addresses ("mem-1:1", ...),
 * routes calls and holds the faults. Faults name networks by address or id.
 */
export class MemoryPeerHub {
  private nextHost = 1;
  private readonly bound = new Map<string, MemoryPeerNetwork>();
  private groups: string[][] | null = null;
  private readonly cuts: Array<[string, string]> = [];
  private readonly delays: Array<{ a: string; b: string; ms: number }> = [];

  /**
   * Splits the members into groups that cannot reach each other; networks named in no group form
   * one more group together. Calls across groups time out. Replaces any earlier partition.
   */
  partition(groups: string[][]): void {
    this.groups = groups.map((g) => [...g]);
  }

  /** Ends the partition (links cut with drop() stay cut). */
  heal(): void {
    this.groups = null;
  }

  /** Cuts the link between a and b both ways: calls across it time out, answers in flight are lost. */
  drop(a: string, b: string): void {
    this.cuts.push([a, b]);
  }

  restore(a: string, b: string): void {
    for (let i = this.cuts.length - 1; i >= 0; i--) {
      const [x, y] = this.cuts[i];
      if ((x === a && y === b) || (x === b && y === a)) this.cuts.splice(i, 1);
    }
  }

  /** Every message between a and b (either way) waits `ms`, so a call's round trip takes 2·ms; 0 removes. */
  delay(a: string, b: string, ms: number): void {
    if (!(ms >= 0)) throw new RangeError("delay must be >= 0 ms");
    for (let i = this.delays.length - 1; i >= 0; i--) {
      const d = this.delays[i];
      if ((d.a === a && d.b === b) || (d.a === b && d.b === a)) this.delays.splice(i, 1);
    }
    if (ms > 0) this.delays.unshift({ a, b, ms }); // the latest setting wins
  }

  /**
   * The network at `addr` stops dead, without closing anything: calls to it (and those it was
   * answering) are never answered, so callers time out; its own calls fail "closed". The address
   * stays taken by the corpse until a new network listens on it (a restart).
   */
  crash(addr: string): void {
    const net = this.bound.get(addr);
    if (!net) throw new Error(`nothing listens on ${addr}`);
    net.crashNow();
  }

  /** The network listening at addr (crashed included), if any. */
  at(addr: string): MemoryPeerNetwork | undefined {
    return this.bound.get(addr);
  }

  /** @internal Binds a listening network; a crashed or closed holder of the address is replaced. */
  bind(net: MemoryPeerNetwork, addr: string | undefined): string {
    const a = addr ?? `mem-${this.nextHost++}:1`;
    if (!ADDR.test(a)) throw new InputError("bad_addr", `invalid address: ${a}`);
    if (this.bound.get(a)?.isOpen) {
      throw Object.assign(new Error(`listen EADDRINUSE: address already in use ${a}`), {
        code: "EADDRINUSE",
      });
    }
    this.bound.set(a, net);
    return a;
  }

  /** @internal */
  unbind(net: MemoryPeerNetwork): void {
    const a = net.addrOrUndefined;
    if (a !== undefined && this.bound.get(a) === net) this.bound.delete(a);
  }

  /** @internal False while a partition or a cut link separates a and b. */
  connected(a: MemoryPeerNetwork, b: MemoryPeerNetwork): boolean {
    if (a === b) return true;
    if (this.groups) {
      const group = (n: MemoryPeerNetwork) => {
        const i = this.groups!.findIndex((g) => g.some((name) => named(n, name)));
        return i < 0 ? this.groups!.length : i;
      };
      if (group(a) !== group(b)) return false;
    }
    return !this.cuts.some(([x, y]) => (named(a, x) && named(b, y)) || (named(a, y) && named(b, x)));
  }

  /** @internal One message's trip from a to b: the link's delay, or the next turn of the event loop. */
  transit(a: MemoryPeerNetwork, b: MemoryPeerNetwork): Promise<void> {
    const d = this.delays.find(
      ({ a: x, b: y }) => (named(a, x) && named(b, y)) || (named(a, y) && named(b, x)),
    );
    return new Promise((resolve) => (d ? setTimeout(resolve, d.ms) : setImmediate(resolve)));
  }
}

export class MemoryPeerNetwork extends EventEmitter<PeerTransportEvents> implements PeerTransport {
  private readonly hub: MemoryPeerHub;
  private readonly opts: Required<Omit<MemoryPeerNetworkOptions, "addr" | "log">>;
  private readonly log: Logger;
  private readonly handlers = new HandlerTable();
  private state: State = "new";
  private address: string | undefined;
  /** Calls we made that have not settled. */
  private readonly outgoing = new Set<Call>();
  /** Calls made to us that have not settled, to fail them when we close. */
  private readonly incoming = new Set<Call>();
  /** Networks we authenticated with (both sides hold the pair), like open connections. */
  private readonly links = new Set<MemoryPeerNetwork>();

  constructor(hub: MemoryPeerHub, opts: MemoryPeerNetworkOptions) {
    super();
    assertOwnProof(opts.proof, opts);
    this.hub = hub;
    this.opts = {
      signer: opts.signer,
      networkId: opts.networkId,
      adminPublicKey: opts.adminPublicKey,
      proof: opts.proof,
      maxFrameBytes: opts.maxFrameBytes ?? 1024 * 1024,
      requestTimeoutMs: opts.requestTimeoutMs ?? 3000,
    };
    this.address = opts.addr;
    this.log = (opts.log ?? silentLogger).child({ component: "net", node: opts.signer.id.slice(0, 12) });
  }

  get id(): string {
    return this.opts.signer.id;
  }

  get addr(): string {
    if (!this.address) throw new Error("MemoryPeerNetwork.addr is known only after listen()");
    return this.address;
  }

  /** @internal */
  get addrOrUndefined(): string | undefined {
    return this.address;
  }

  /** @internal */
  get crashed(): boolean {
    return this.state === "crashed";
  }

  /** @internal Listening and not crashed or closed. */
  get isOpen(): boolean {
    return this.state === "open";
  }

  async listen(): Promise<{ host: string; port: number }> {
    if (this.state === "open") throw new Error("already listening");
    if (this.state !== "new") throw new Error("closed");
    this.address = this.hub.bind(this, this.address);
    this.state = "open";
    const i = this.address.lastIndexOf(":");
    return { host: this.address.slice(0, i), port: Number(this.address.slice(i + 1)) };
  }

  handle(method: string, handler: Handler): void {
    this.handlers.set(method, handler);
  }

  peers(): PeerInfo[] {
    const out = new Map<string, PeerInfo>();
    for (const n of this.links) if (n.isOpen) out.set(n.id, n.info());
    return [...out.values()];
  }

  async call(to: CallTarget, method: string, params: unknown, opts?: CallOptions): Promise<unknown> {
    if (this.state !== "open") throw new NetError("closed", "peer network is closed");
    if (to.id === this.id || (to.id === undefined && to.addr === this.address)) {
      return this.handlers.callSelf(method, params, this.info());
    }
    if (!ADDR.test(to.addr)) throw new InputError("bad_addr", `invalid peer address: ${to.addr}`);
    const p = this.encode({ t: "req", id: 0, m: method, p: params ?? null }, "bad_params", "request");
    const timeoutMs = opts?.timeoutMs ?? this.opts.requestTimeoutMs;
    return new Promise<unknown>((resolve, reject) => {
      const call: Call = {
        from: this,
        settled: false,
        resolve: (v) => this.settle(call, () => resolve(v)),
        reject: (e) => this.settle(call, () => reject(e)),
        timer: setTimeout(
          () =>
            call.reject(new NetError("timeout", `${method} to ${to.addr} timed out after ${timeoutMs} ms`)),
          timeoutMs,
        ),
      };
      this.outgoing.add(call);
      this.deliver(call, to, method, p).catch((err: unknown) => call.reject(err as Error));
    });
  }

  setProof(proof: string): void {
    assertOwnProof(proof, this.opts);
    this.opts.proof = proof;
  }

  async close(): Promise<void> {
    // A crashed network stays a black hole at its address until someone listens there again.
    if (this.state === "closed" || this.state === "crashed") return;
    this.state = "closed";
    this.hub.unbind(this);
    for (const c of [...this.outgoing]) c.reject(new NetError("closed", "connection closed locally"));
    for (const c of [...this.incoming]) {
      c.reject(new NetError("closed", `connection to ${this.address} closed (1001 shutdown)`));
    }
    for (const n of this.links) n.unlink(this);
    this.links.clear();
  }

  /** @internal See MemoryPeerHub.crash. */
  crashNow(): void {
    if (this.state !== "open") return;
    this.state = "crashed";
    for (const c of [...this.outgoing]) c.reject(new NetError("closed", "peer network crashed"));
    // incoming calls stay pending: their callers time out, as with a host that vanished.
    this.incoming.clear();
  }

  /** @internal */
  info(): PeerInfo {
    return { id: this.id, addr: this.addr, publicKeyHex: this.opts.signer.publicKeyHex };
  }

  private settle(call: Call, done: () => void): void {
    if (call.settled) return;
    call.settled = true;
    clearTimeout(call.timer);
    this.outgoing.delete(call);
    done();
  }

  /** JSON text of a frame, or the NetError the real connection gives for it. */
  private encode(
    frame: { t: string; id: number; m?: string; p?: unknown; r?: unknown },
    badCode: string,
    what: string,
  ): unknown {
    let text: string;
    try {
      text = JSON.stringify(frame);
    } catch (err) {
      throw new NetError(badCode, `${what} is not JSON: ${(err as Error).message}`);
    }
    if (Buffer.byteLength(text) > this.opts.maxFrameBytes) {
      throw new NetError("too_large", `${what} exceeds ${this.opts.maxFrameBytes} bytes`);
    }
    const copy = JSON.parse(text) as { p?: unknown; r?: unknown };
    return frame.t === "req" ? copy.p : copy.r;
  }

  /** Carries one call there and its answer back; a lost message simply never arrives. */
  private async deliver(call: Call, to: CallTarget, method: string, params: unknown): Promise<void> {
    const target = this.hub.at(to.addr);
    if (!target) {
      await new Promise((r) => setImmediate(r));
      throw new NetError("unreachable", `cannot connect to ${to.addr}: nobody listens there`);
    }
    if (!this.hub.connected(this, target)) return;
    await this.hub.transit(this, target);
    if (call.settled || !this.hub.connected(this, target) || target.crashed) return;
    if (target.state !== "open") throw new NetError("unreachable", `cannot connect to ${to.addr}`);
    this.authenticate(target);
    if (to.id && target.id !== to.id) {
      throw new AuthError("peer_mismatch", `peer at ${to.addr} is ${target.id}, expected ${to.id}`);
    }
    target.incoming.add(call);
    let outcome: Outcome | undefined;
    try {
      outcome = await target.serve(method, params, this.info());
    } finally {
      target.incoming.delete(call);
    }
    if (outcome === undefined || call.settled) return;
    await this.hub.transit(target, this);
    if (!this.hub.connected(this, target) || target.crashed) return;
    if (outcome.ok) call.resolve(outcome.result);
    else call.reject(fromWireError(outcome.error));
  }

  /** Runs a handler for a caller; undefined (no answer) if we crashed meanwhile. */
  private async serve(method: string, params: unknown, from: PeerInfo): Promise<Outcome | undefined> {
    let outcome: Outcome;
    try {
      const result = await this.handlers.dispatch(method, params, from);
      try {
        outcome = {
          ok: true,
          result: this.encode({ t: "res", id: 0, r: result ?? null }, "bad_result", "result"),
        };
      } catch (err) {
        outcome = { ok: false, error: toWireError(err) };
      }
    } catch (err) {
      const error = toWireError(err);
      if (error.kind === "internal") {
        this.log.warn("peer request handler failed", { method, peer: from.id, err: error.message });
      }
      outcome = { ok: false, error };
    }
    return this.crashed ? undefined : outcome;
  }

  /** The handshake's membership checks, once per pair of networks, both ways. */
  private authenticate(target: MemoryPeerNetwork): void {
    if (this.links.has(target)) return;
    const why = checkHello(createHello(target.identity()), this.opts) ?? target.refusal(this);
    if (why) throw new AuthError(why, `peer ${target.addr} failed authentication: ${why}`);
    this.link(target);
    target.link(this);
  }

  private refusal(caller: MemoryPeerNetwork): string | null {
    return checkHello(createHello(caller.identity()), this.opts);
  }

  private identity() {
    return { ...this.opts, addr: this.addr };
  }

  private link(peer: MemoryPeerNetwork): void {
    // A crashed or closed incarnation of the same node no longer counts as a connection.
    for (const n of this.links) if (n.id === peer.id && !n.isOpen) this.links.delete(n);
    const first = ![...this.links].some((n) => n.id === peer.id);
    this.links.add(peer);
    if (first) this.emitSafe("peer", peer.info());
  }

  private unlink(peer: MemoryPeerNetwork): void {
    if (!this.links.delete(peer)) return;
    if (![...this.links].some((n) => n.id === peer.id && n.isOpen)) this.emitSafe("peer-closed", peer.info());
  }

  private emitSafe(event: keyof PeerTransportEvents, peer: PeerInfo): void {
    try {
      this.emit(event, peer);
    } catch (err) {
      this.log.error(`${event} listener threw`, { err: (err as Error).message });
    }
  }
}
