// Authenticated, permissioned request/response between Flowchain nodes over WebSocket. Every
// connection is mutually authenticated (handshake.ts) before any request is read, and a handler
// learns its caller from the handshake, never from the payload. Who may hold an unauthenticated
// inbound connection, and for how long, is admission.ts (per-source budgets, oldest-first
// eviction), applied by peer-listener.ts from the TCP accept on, before TLS.
import { EventEmitter } from "node:events";
import { isIPv6, type Socket } from "node:net";
import type { TLSSocket } from "node:tls";
import { WebSocket } from "ws";
import { silentLogger, type Logger } from "../log.js";
import { AuthError, InputError } from "../util/errors.js";
import { CloseCode, Connection, type ConnectionOptions } from "./connection.js";
import { NetError } from "./frame.js";
import type { LocalIdentity, Role } from "./handshake.js";
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
import { BINDING_LABEL } from "./handshake.js";
import { PeerListener, PLAIN_REFUSAL_STATUS, type Inbound } from "./peer-listener.js";

export type { CallTarget, Handler, PeerInfo } from "./peer-transport.js";

export interface PeerNetworkOptions {
  signer: NodeSigner;
  networkId: string;
  adminPublicKey: string;
  /** This node's membership token (or, while it joins, its join token): shown to peers in every handshake. */
  proof: string;
  host: string;
  /** 0 picks a free port. */
  port: number;
  /** "host:port" peers should dial; default `${host}:${listening port}`. */
  advertisedAddr?: string;
  /** Largest accepted frame; default 1 MiB. */
  maxFrameBytes?: number;
  /** Default per-call timeout; default 3000 ms. */
  requestTimeoutMs?: number;
  /** Outstanding outbound requests per connection; default 1024. */
  maxPending?: number;
  /** Concurrently running inbound handlers per connection; default 256. */
  maxInflight?: number;
  /**
   * How long a connection may stay unauthenticated, either direction; default 5000 ms. Inbound,
   * counted from the TCP accept, so the TLS handshake and the upgrade are inside it.
   */
  handshakeTimeoutMs?: number;
  /** An inbound connection must send its hello this soon after its WebSocket opened; default 2000 ms. */
  helloTimeoutMs?: number;
  /**
   * Inbound connections still in their handshake, across the server; default 256. A newcomer
   * evicts the oldest such connection instead of being refused (admission.ts).
   */
  maxHandshakes?: number;
  /** Inbound connections still in their handshake per source (IPv4 address, IPv6 /64); default 64. */
  maxHandshakesPerAddress?: number;
  /** Ping interval; a peer silent for two intervals is dropped. Default 10000 ms, 0 disables. */
  heartbeatMs?: number;
  /** Send-buffer high-water mark per connection; default 4 MiB. */
  highWaterBytes?: number;
  /**
   * TLS 1.3 (wss://) on the peer port, the handshake bound to the session (tls-cert.ts); default
   * true. Every member of a network must agree: a dial across the two fails with
   * AuthError("peer_links_mismatch"). False (plain ws://) is for benchmarks only.
   */
  tls?: boolean;
  log?: Logger;
}

/** PeerNetwork emits exactly the events of a PeerTransport. */
export type PeerNetworkEvents = PeerTransportEvents;

/** Dials whose handshake the peer evicted (4003, or a reset before the upgrade) are tried this many times in all. */
const DIAL_ATTEMPTS = 8;
/** Ids remembered for ranking their next handshake; bounded so strangers cannot grow it (they cannot add to it at all). */
const MAX_KNOWN_IDS = 4096;

export class PeerNetwork extends EventEmitter<PeerNetworkEvents> implements PeerTransport {
  private readonly opts: Required<Omit<PeerNetworkOptions, "advertisedAddr" | "log">> & {
    advertisedAddr?: string;
  };
  private readonly log: Logger;
  private readonly handlers = new HandlerTable();
  private listener: PeerListener | undefined;
  private advertised: string | undefined;
  private closed = false;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  /** Ids that authenticated with us, most recent last: their next hello ranks higher (admission.ts). */
  private readonly knownIds = new Map<string, true>();
  private readonly all = new Set<Connection>();
  /** Open outbound connections by the address we dialed: that address is proven to reach that peer. */
  private readonly dialed = new Map<string, Connection>();
  private readonly dialing = new Map<string, Promise<Connection>>();
  /** Open connections (either direction) by authenticated peer id. */
  private readonly byId = new Map<string, Set<Connection>>();

  constructor(opts: PeerNetworkOptions) {
    super();
    assertOwnProof(opts.proof, opts);
    this.opts = {
      maxFrameBytes: 1024 * 1024,
      requestTimeoutMs: 3000,
      maxPending: 1024,
      maxInflight: 256,
      handshakeTimeoutMs: 5000,
      helloTimeoutMs: 2000,
      maxHandshakes: 256,
      maxHandshakesPerAddress: 64,
      highWaterBytes: 4 * 1024 * 1024,
      heartbeatMs: 10_000,
      tls: true,
      ...stripUndefined(opts),
    } as PeerNetwork["opts"];
    if (this.opts.heartbeatMs > 0) {
      this.heartbeatTimer = setInterval(() => {
        for (const c of this.all) c.heartbeat();
      }, this.opts.heartbeatMs);
      this.heartbeatTimer.unref();
    }
    this.log = (opts.log ?? silentLogger).child({ component: "net", node: opts.signer.id.slice(0, 12) });
  }

  get id(): string {
    return this.opts.signer.id;
  }

  /** "host:port" as advertised to peers; throws before listen() unless advertisedAddr was given. */
  get addr(): string {
    const a = this.opts.advertisedAddr ?? this.advertised;
    if (!a) throw new Error("PeerNetwork.addr is known only after listen()");
    return a;
  }

  async listen(): Promise<{ host: string; port: number }> {
    if (this.listener) throw new Error("already listening");
    if (this.closed) throw new Error("closed");
    const listener = new PeerListener({
      host: this.opts.host,
      port: this.opts.port,
      tls: this.opts.tls,
      maxFrameBytes: this.opts.maxFrameBytes,
      maxPending: this.opts.maxHandshakes,
      maxPendingPerSource: this.opts.maxHandshakesPerAddress,
      upgradeTimeoutMs: this.opts.handshakeTimeoutMs,
      // Long enough for a TLS handshake on a busy machine; short, since it also shields sockets that never start TLS.
      protectMs: Math.min(500, this.opts.helloTimeoutMs, this.opts.handshakeTimeoutMs),
      log: this.log,
      onWebSocket: (ws, inbound) => this.accept(ws, inbound),
    });
    this.listener = listener;
    const { port } = await listener.listen();
    // An IPv6 host is bracketed, as in a URL, so the port stays separable (and ws://[::1]:N dials).
    const host = isIPv6(this.opts.host) ? `[${this.opts.host}]` : this.opts.host;
    this.advertised = `${host}:${port}`;
    return { host: this.opts.host, port };
  }

  handle(method: string, handler: Handler): void {
    this.handlers.set(method, handler);
  }

  /** Sockets currently held, authenticated or not, with those still in TLS or the upgrade (diagnostics, tests). */
  get connectionCount(): number {
    return this.all.size + (this.listener?.upgrading ?? 0);
  }

  /** Diagnostics summed over all connections: memory held on behalf of peers. */
  stats(): {
    connections: number;
    handshaking: number;
    /** Unauthenticated inbound connections closed to make room for newer ones, since start. */
    evicted: number;
    pending: number;
    inflight: number;
    bufferedBytes: number;
    blockedSends: number;
  } {
    const sum = {
      connections: this.connectionCount,
      handshaking: this.listener?.pending ?? 0,
      evicted: this.listener?.evicted ?? 0,
      pending: 0,
      inflight: 0,
      bufferedBytes: 0,
      blockedSends: 0,
    };
    for (const c of this.all) {
      const s = c.stats();
      sum.pending += s.pending;
      sum.inflight += s.inflight;
      sum.bufferedBytes += s.bufferedBytes;
      sum.blockedSends += s.blockedSends;
    }
    return sum;
  }

  /** Peers with at least one open authenticated connection. */
  peers(): PeerInfo[] {
    const out: PeerInfo[] = [];
    for (const set of this.byId.values()) {
      const c = set.values().next().value;
      if (c?.peer) out.push(c.peer);
    }
    return out;
  }

  /** Closes every connection with `id` and refuses it from now on (a member the admin removed). */
  ban(id: string): void {
    this.banned.add(id);
    for (const c of [...(this.byId.get(id) ?? [])]) c.close(CloseCode.authFailed, "removed by the admin");
  }

  private readonly banned = new Set<string>();

  async call(to: CallTarget, method: string, params: unknown, opts?: CallOptions): Promise<unknown> {
    if (this.closed) throw new NetError("closed", "peer network is closed");
    if (to.id !== undefined && this.banned.has(to.id)) {
      throw new AuthError("revoked", `${to.id} was removed by the admin`);
    }
    const timeoutMs = opts?.timeoutMs ?? this.opts.requestTimeoutMs;
    if (to.id === this.id || (to.id === undefined && to.addr === this.advertisedOrUndefined())) {
      return this.handlers.callSelf(method, params, this.selfInfo());
    }
    const deadline = Date.now() + timeoutMs;
    let conn = to.id ? this.openConnectionTo(to.id) : undefined;
    // Dialing counts against the call's timeout, so a black-holed address fails like a slow peer.
    conn ??= await withTimeout(this.connect(to.addr), timeoutMs, `connecting to ${to.addr}`);
    if (to.id && conn.peer!.id !== to.id) {
      throw new AuthError("peer_mismatch", `peer at ${to.addr} is ${conn.peer!.id}, expected ${to.id}`);
    }
    if (this.banned.has(conn.peer!.id))
      throw new AuthError("revoked", `${conn.peer!.id} was removed by the admin`);
    return conn.request(method, params, Math.max(1, deadline - Date.now()));
  }

  setProof(proof: string): void {
    assertOwnProof(proof, this.opts);
    this.opts.proof = proof;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.heartbeatTimer);
    this.listener?.close();
    for (const c of [...this.all]) c.close(CloseCode.goingAway, "shutdown");
  }

  private advertisedOrUndefined(): string | undefined {
    return this.opts.advertisedAddr ?? this.advertised;
  }

  private openConnectionTo(id: string): Connection | undefined {
    const set = this.byId.get(id);
    if (!set) return undefined;
    for (const c of set) if (c.isOpen) return c;
    return undefined;
  }

  private connect(addr: string): Promise<Connection> {
    const open = this.dialed.get(addr);
    if (open?.isOpen) return Promise.resolve(open);
    const inProgress = this.dialing.get(addr);
    if (inProgress) return inProgress;
    const p = this.dial(addr).finally(() => this.dialing.delete(addr));
    this.dialing.set(addr, p);
    return p;
  }

  private async dial(addr: string): Promise<Connection> {
    if (!/^\S+:\d{1,5}$/.test(addr)) throw new InputError("bad_addr", `invalid peer address: ${addr}`);
    let conn: Connection;
    for (let attempt = 1; ; attempt++) {
      const ws = new WebSocket(`${this.opts.tls ? "wss" : "ws"}://${addr}`, {
        perMessageDeflate: false,
        maxPayload: this.opts.maxFrameBytes,
        handshakeTimeout: this.opts.handshakeTimeoutMs,
        // The certificate proves nothing (tls-cert.ts): the node keys do, bound to this session.
        rejectUnauthorized: false,
        minVersion: "TLSv1.3",
      });
      let socket: Socket | undefined;
      let socketError: NodeJS.ErrnoException | undefined;
      ws.once("upgrade", (res) => (socket = res.socket));
      ws.once("error", (e) => (socketError = e));
      conn = this.track(ws, addr, "dialer", () => socket);
      try {
        await conn.ready;
        break;
      } catch (err) {
        const mismatch = linksMismatch(socketError, this.opts.tls, addr);
        if (mismatch) throw mismatch;
        // 4003: the peer is flooded and evicted our handshake to make room; a reset before the
        // upgrade is the same eviction before TLS was done (peer-listener.ts). It admits the
        // newest, so an immediate retry usually gets in. The caller's timeout bounds the whole dial.
        const evicted =
          conn.peerCloseCode === CloseCode.tooManyConnections ||
          (socket === undefined && socketError?.code === "ECONNRESET");
        if (!evicted || attempt >= DIAL_ATTEMPTS || this.closed) throw err;
        this.log.debug("peer evicted our handshake; redialing", { addr, attempt });
        // Backing off: a flooded port refuses newcomers while its address's sockets are young.
        // Seven waits add up to about 2.6 s, well past the 500 ms a young socket is protected (peer-listener.ts).
        const backoffMs = Math.min(1000, 25 * 2 ** attempt) * (0.5 + Math.random() / 2);
        await new Promise((r) => setTimeout(r, backoffMs));
      }
    }
    if (this.closed) {
      conn.close();
      throw new NetError("closed", "peer network is closed");
    }
    this.dialed.set(addr, conn);
    return conn;
  }

  private accept(ws: WebSocket, inbound: Inbound): void {
    if (this.closed) {
      this.log.warn("refused peer connection", { remote: inbound.remote, reason: "too_many_handshakes" });
      ws.on("error", () => {});
      ws.close(CloseCode.tooManyConnections, "too_many_handshakes");
      setTimeout(() => ws.terminate(), 1000).unref();
      return;
    }
    inbound.conn = this.track(ws, inbound.remote, "listener", () => inbound.stream, inbound);
  }

  /** `inbound` (listener side only): the accepted socket admission counts until it authenticates. */
  private track(
    ws: WebSocket,
    remote: string,
    role: Role,
    socket: () => Socket | undefined,
    inbound?: Inbound,
  ): Connection {
    const self: LocalIdentity = {
      signer: this.opts.signer,
      networkId: this.opts.networkId,
      adminPublicKey: this.opts.adminPublicKey,
      proof: this.opts.proof,
      addr: this.addr,
    };
    const copts: ConnectionOptions = {
      self,
      role,
      maxFrameBytes: this.opts.maxFrameBytes,
      handshakeTimeoutMs: this.opts.handshakeTimeoutMs,
      helloTimeoutMs: this.opts.helloTimeoutMs,
      startedAt: inbound?.acceptedAt,
      maxPending: this.opts.maxPending,
      maxInflight: this.opts.maxInflight,
      highWaterBytes: this.opts.highWaterBytes,
      log: this.log,
      dispatch: (m, p, from) => this.handlers.dispatch(m, p, from),
      channelBinding: () => channelBinding(this.opts.tls, socket()),
    };
    const conn = new Connection(ws, remote, copts);
    this.all.add(conn);
    // Only inbound handshakes are admitted (peer-listener.ts): they are the ones strangers can open.
    const uncount = () => {
      if (inbound) this.listener?.release(inbound);
    };
    conn.onHello = (_c, claimedId) => {
      if (inbound) this.listener?.promote(inbound, this.knownIds.has(claimedId) ? 2 : 1);
    };
    conn.onClose = (c) => {
      uncount();
      this.all.delete(c);
      if (this.dialed.get(remote) === c) this.dialed.delete(remote);
      const id = c.peer?.id;
      const set = id ? this.byId.get(id) : undefined;
      if (id && set?.delete(c) && set.size === 0) {
        this.byId.delete(id);
        this.emitSafe("peer-closed", c.peer!);
      }
    };
    conn.ready.then(
      (peer) => {
        uncount();
        if (!conn.isOpen) return;
        if (this.banned.has(peer.id)) {
          conn.close(CloseCode.authFailed, "removed by the admin");
          return;
        }
        this.rememberId(peer.id);
        let set = this.byId.get(peer.id);
        const first = !set;
        if (!set) this.byId.set(peer.id, (set = new Set()));
        set.add(conn);
        if (first) this.emitSafe("peer", peer);
      },
      () => uncount(),
    );
    return conn;
  }

  private rememberId(id: string): void {
    this.knownIds.delete(id);
    this.knownIds.set(id, true);
    if (this.knownIds.size > MAX_KNOWN_IDS) this.knownIds.delete(this.knownIds.keys().next().value!);
  }

  private selfInfo(): PeerInfo {
    return { id: this.id, addr: this.addr, publicKeyHex: this.opts.signer.publicKeyHex };
  }

  /** A throwing "peer" listener is the listener's bug; it must not break the connection that emitted it. */
  private emitSafe(event: keyof PeerNetworkEvents, peer: PeerInfo): void {
    try {
      this.emit(event, peer);
    } catch (err) {
      this.log.error(`${event} listener threw`, { err: (err as Error).message });
    }
  }
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new NetError("timeout", `${what} timed out after ${ms} ms`)), ms);
    p.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(timer);
        reject(e);
      },
    );
  });
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/**
 * A dial that failed because the two ends disagree on TLS, as a clear refusal: a TLS peer port
 * answers a plain dialer 426 in clear (peer-listener.ts), and a TLS client reading a plain
 * server's HTTP answer reports "wrong version number".
 */
function linksMismatch(
  err: NodeJS.ErrnoException | undefined,
  tls: boolean,
  addr: string,
): AuthError | undefined {
  if (!err) return undefined;
  const same = "every member of a network must use the same kind of peer links";
  if (!tls && err.message.includes(`Unexpected server response: ${PLAIN_REFUSAL_STATUS}`)) {
    return new AuthError(
      "peer_links_mismatch",
      `${addr} takes encrypted peer links (TLS 1.3) only, and this node's are plain ` +
        `(--insecure-peers): ${same}; start this node without --insecure-peers`,
    );
  }
  if (tls && (err.code === "ERR_SSL_WRONG_VERSION_NUMBER" || /wrong version number/.test(err.message))) {
    return new AuthError(
      "peer_links_mismatch",
      `${addr} speaks plain peer links (it was started with --insecure-peers), and this node's ` +
        `are encrypted (TLS 1.3): ${same}`,
    );
  }
  return undefined;
}

/** RFC 5705 keying material of the socket's TLS session, hex; "" on plain WebSocket. */
export function channelBinding(tls: boolean, socket: Socket | undefined): string {
  if (!tls) return "";
  const material = (socket as TLSSocket | undefined)?.exportKeyingMaterial?.(
    32,
    BINDING_LABEL,
    Buffer.alloc(0),
  );
  if (!material) throw new Error("no TLS session to bind the handshake to");
  return material.toString("hex");
}
