// Authenticated, permissioned request/response between Flowchain nodes over WebSocket. Every
// connection is mutually authenticated (handshake.ts) before any request is read, and a handler
// learns its caller from the handshake, never from the payload. Who may hold an unauthenticated
// inbound connection, and for how long, is admission.ts (per-source budgets, oldest-first eviction).
import { EventEmitter } from "node:events";
import type { IncomingMessage } from "node:http";
import { createServer as createHttpsServer, type Server as HttpsServer } from "node:https";
import { isIPv6, type Socket } from "node:net";
import type { TLSSocket } from "node:tls";
import { WebSocket, WebSocketServer } from "ws";
import { silentLogger, type Logger } from "../log.js";
import { Admission, sourceKey } from "./admission.js";
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
import { selfSignedCertificate } from "./tls-cert.js";

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
  /** How long a connection may stay unauthenticated, either direction; default 5000 ms. */
  handshakeTimeoutMs?: number;
  /** An inbound connection must send its hello this soon; default 2000 ms. */
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
   * TLS 1.3 (wss://) on the peer port, the handshake bound to the session (tls-cert.ts). Every
   * member of a network must agree. Default false until floods of TLS handshakes are handled as
   * well as floods of plain ones (src/net/README.md).
   */
  tls?: boolean;
  log?: Logger;
}

/** PeerNetwork emits exactly the events of a PeerTransport. */
export type PeerNetworkEvents = PeerTransportEvents;

/** Dials whose handshake the peer evicted (4003) are retried this many times in all. */
const DIAL_ATTEMPTS = 4;
const EVICTION_LOG_INTERVAL_MS = 10_000;
/** Ids remembered for ranking their next handshake; bounded so strangers cannot grow it (they cannot add to it at all). */
const MAX_KNOWN_IDS = 4096;

export class PeerNetwork extends EventEmitter<PeerNetworkEvents> implements PeerTransport {
  private readonly opts: Required<Omit<PeerNetworkOptions, "advertisedAddr" | "log">> & {
    advertisedAddr?: string;
  };
  private readonly log: Logger;
  private readonly handlers = new HandlerTable();
  private server: WebSocketServer | undefined;
  private tlsServer: HttpsServer | undefined;
  private advertised: string | undefined;
  private closed = false;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private readonly admission: Admission<Connection>;
  /** Ids that authenticated with us, most recent last: their next hello ranks higher (admission.ts). */
  private readonly knownIds = new Map<string, true>();
  private evicted = 0;
  private lastEvictionLog = 0;
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
      tls: false,
      ...stripUndefined(opts),
    } as PeerNetwork["opts"];
    this.admission = new Admission({
      maxPending: this.opts.maxHandshakes,
      maxPendingPerSource: this.opts.maxHandshakesPerAddress,
    });
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
    if (this.server) throw new Error("already listening");
    if (this.closed) throw new Error("closed");
    const common = {
      maxPayload: this.opts.maxFrameBytes,
      // Compression would let a small frame inflate past maxPayload's intent and costs CPU per frame.
      perMessageDeflate: false,
      clientTracking: false,
    };
    let server: WebSocketServer;
    if (this.opts.tls) {
      const https = createHttpsServer({
        ...selfSignedCertificate(),
        minVersion: "TLSv1.3",
        // A socket that never finishes TLS holds memory before admission.ts can see it.
        handshakeTimeout: this.opts.handshakeTimeoutMs,
        requestTimeout: this.opts.handshakeTimeoutMs,
        headersTimeout: this.opts.handshakeTimeoutMs,
      });
      https.on("tlsClientError", () => {});
      server = new WebSocketServer({ server: https, ...common });
      this.tlsServer = https;
      this.server = server;
      await new Promise<void>((resolve, reject) => {
        https.once("error", reject);
        https.listen(this.opts.port, this.opts.host, () => {
          https.off("error", reject);
          resolve();
        });
      });
      https.on("error", (err) => this.log.error("peer server error", { err: err.message }));
    } else {
      server = new WebSocketServer({ host: this.opts.host, port: this.opts.port, ...common });
      this.server = server;
      await new Promise<void>((resolve, reject) => {
        server.once("listening", resolve);
        server.once("error", reject);
      });
    }
    server.on("error", (err) => this.log.error("peer server error", { err: err.message }));
    server.on("connection", (ws, req) => this.accept(ws, req));
    const a = (this.tlsServer ?? server).address();
    if (typeof a === "string" || a === null) throw new Error("unexpected server address");
    // An IPv6 host is bracketed, as in a URL, so the port stays separable (and ws://[::1]:N dials).
    const host = isIPv6(this.opts.host) ? `[${this.opts.host}]` : this.opts.host;
    this.advertised = `${host}:${a.port}`;
    return { host: this.opts.host, port: a.port };
  }

  handle(method: string, handler: Handler): void {
    this.handlers.set(method, handler);
  }

  /** Sockets currently held, authenticated or not (diagnostics, tests). */
  get connectionCount(): number {
    return this.all.size;
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
      connections: this.all.size,
      handshaking: this.admission.size,
      evicted: this.evicted,
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
    for (const c of [...this.all]) c.close(CloseCode.goingAway, "shutdown");
    const server = this.server;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
    const tlsServer = this.tlsServer;
    if (tlsServer) {
      tlsServer.closeAllConnections();
      await new Promise<void>((resolve) => tlsServer.close(() => resolve()));
    }
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
      ws.once("upgrade", (res) => (socket = res.socket));
      conn = this.track(ws, addr, "dialer", () => socket);
      try {
        await conn.ready;
        break;
      } catch (err) {
        // 4003: the peer is flooded and evicted our handshake to make room; it admits the newest,
        // so an immediate retry usually gets in. The caller's timeout still bounds the whole dial.
        const evicted = conn.peerCloseCode === CloseCode.tooManyConnections;
        if (!evicted || attempt >= DIAL_ATTEMPTS || this.closed) throw err;
        this.log.debug("peer evicted our handshake; redialing", { addr, attempt });
        await new Promise((r) => setTimeout(r, Math.random() * 20 * attempt));
      }
    }
    if (this.closed) {
      conn.close();
      throw new NetError("closed", "peer network is closed");
    }
    this.dialed.set(addr, conn);
    return conn;
  }

  private accept(ws: WebSocket, req: IncomingMessage): void {
    const remote = `${req.socket.remoteAddress}:${req.socket.remotePort}`;
    if (this.closed) {
      this.log.warn("refused peer connection", { remote, reason: "too_many_handshakes" });
      ws.on("error", () => {});
      ws.close(CloseCode.tooManyConnections, "too_many_handshakes");
      setTimeout(() => ws.terminate(), 1000).unref();
      return;
    }
    const conn = this.track(ws, remote, "listener", () => req.socket);
    // Unauthenticated connections cost memory: the newcomer displaces the oldest idle one.
    for (const victim of this.admission.admit(conn, sourceKey(req.socket.remoteAddress))) {
      this.evicted++;
      victim.close(CloseCode.tooManyConnections, "too_many_handshakes");
    }
    const now = Date.now();
    if (this.evicted > 0 && now - this.lastEvictionLog >= EVICTION_LOG_INTERVAL_MS) {
      // A flood evicts thousands a second: one line per interval, not one per socket.
      this.lastEvictionLog = now;
      this.log.warn("evicting unauthenticated peer connections", {
        remote,
        evictedTotal: this.evicted,
        handshaking: this.admission.size,
      });
    }
  }

  private track(ws: WebSocket, remote: string, role: Role, socket: () => Socket | undefined): Connection {
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
      maxPending: this.opts.maxPending,
      maxInflight: this.opts.maxInflight,
      highWaterBytes: this.opts.highWaterBytes,
      log: this.log,
      dispatch: (m, p, from) => this.handlers.dispatch(m, p, from),
      channelBinding: () => channelBinding(this.opts.tls, socket()),
    };
    const conn = new Connection(ws, remote, copts);
    this.all.add(conn);
    // Only inbound handshakes are admitted (accept()): they are the ones strangers can open.
    const uncount = () => this.admission.remove(conn);
    conn.onHello = (c, claimedId) => this.admission.promote(c, this.knownIds.has(claimedId) ? 2 : 1);
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
