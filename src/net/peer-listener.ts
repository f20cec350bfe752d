// The peer port's server side up to the WebSocket: accepts TCP sockets, admits them
// (admission.ts) BEFORE anything costs more than an accept, then runs TLS 1.3 (unless the links
// are plain), the HTTP upgrade, and hands the WebSocket to its owner (peer-network.ts).
//
// Why admission comes first: a TLS server that handshakes every socket it accepts spends a
// key exchange and a signature on each idle flood socket before anything can count it, and in an
// in-process flood of 1,000 sockets a member's first call then timed out (20 s). Here a socket is
// counted and may be evicted from its first moment, and one deadline from the accept covers the
// TLS handshake, the upgrade and the peer handshake (Connection's timers start at `acceptedAt`).
//
// A mismatch is answered, not left to look like a dead peer: a plain HTTP request on a TLS port
// gets `426` in clear (the dialer says which side runs --insecure-peers), and a ClientHello on a
// plain port gets `400`, which a TLS client reports as "wrong version number".
import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer } from "node:http";
import { createServer as createTcpServer, type Server as TcpServer, type Socket } from "node:net";
import { createSecureContext, TLSSocket, type SecureContext } from "node:tls";
import type { Duplex } from "node:stream";
import { WebSocketServer, type WebSocket } from "ws";
import type { Logger } from "../log.js";
import { Admission, sourceKey, type AdmissionRank } from "./admission.js";
import { selfSignedCertificate } from "./tls-cert.js";

/** What a TLS peer port answers, in clear, to a plain dialer. */
export const PLAIN_REFUSAL_STATUS = 426;
const REFUSAL_TEXT = "this peer port takes TLS 1.3 (wss://) links only\n";
const PLAIN_REFUSAL =
  `HTTP/1.1 ${PLAIN_REFUSAL_STATUS} Upgrade Required\r\nConnection: close\r\n` +
  `Content-Type: text/plain\r\nContent-Length: ${REFUSAL_TEXT.length}\r\n\r\n${REFUSAL_TEXT}`;
const NOT_HTTP = "HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n";
const EVICTION_LOG_INTERVAL_MS = 10_000;

/** One accepted TCP socket, from the accept to its close; counted by admission until it authenticates. */
export interface Inbound {
  /** "address:port" of the remote end. */
  readonly remote: string;
  readonly acceptedAt: number;
  /** The TCP socket itself. */
  readonly socket: Socket;
  /** What the WebSocket runs on: the TLS socket over `socket`, or `socket` itself. */
  readonly stream: Socket;
  /** Set by the owner once the WebSocket exists; eviction closes it with 4003 instead of a reset. */
  conn?: { close(code: number, reason: string): void };
}

interface Entry extends Inbound {
  timer?: NodeJS.Timeout;
}

export interface PeerListenerOptions {
  host: string;
  port: number;
  tls: boolean;
  maxFrameBytes: number;
  maxPending: number;
  maxPendingPerSource: number;
  /** From the accept to the WebSocket (TLS handshake and upgrade included): the handshake's deadline. */
  upgradeTimeoutMs: number;
  /**
   * A socket still before its upgrade is not displaced by a newcomer from its own address for
   * this long: the newcomer is reset instead. Without it a flood reconnecting from one address
   * evicts each socket mid-TLS and nobody there, member or not, ever finishes TLS.
   */
  protectMs: number;
  log: Logger;
  /** A WebSocket is open on `inbound.stream`; the owner must set `inbound.conn` at once. */
  onWebSocket(ws: WebSocket, inbound: Inbound): void;
}

export class PeerListener {
  private readonly opts: PeerListenerOptions;
  private readonly admission: Admission<Entry>;
  private readonly tcp: TcpServer;
  private readonly http: HttpServer;
  private readonly wss: WebSocketServer;
  private readonly secureContext: SecureContext | undefined;
  private readonly byStream = new WeakMap<Duplex, Entry>();
  /** Accepted sockets without a WebSocket yet: what close() must reset itself. */
  private readonly beforeUpgrade = new Set<Entry>();
  private closing = false;
  private evictedCount = 0;
  private refusedCount = 0;
  private lastEvictionLog = 0;

  constructor(opts: PeerListenerOptions) {
    this.opts = opts;
    this.admission = new Admission({
      maxPending: opts.maxPending,
      maxPendingPerSource: opts.maxPendingPerSource,
    });
    this.secureContext = opts.tls
      ? createSecureContext({ ...selfSignedCertificate(), minVersion: "TLSv1.3" })
      : undefined;
    this.wss = new WebSocketServer({
      noServer: true,
      maxPayload: opts.maxFrameBytes,
      // Compression would let a small frame inflate past maxPayload's intent and costs CPU per frame.
      perMessageDeflate: false,
      clientTracking: false,
    });
    // Never listens: it only parses the upgrade request on streams handed to it below.
    this.http = createHttpServer({ maxHeaderSize: 8192 });
    this.http.on("upgrade", (req: IncomingMessage, stream: Duplex, head: Buffer) =>
      this.upgrade(req, stream, head),
    );
    this.http.on("request", (_req, res) => {
      res.writeHead(426, { Connection: "close", "Content-Type": "text/plain" });
      res.end("peer port: WebSocket only\n");
    });
    this.http.on("clientError", (err: NodeJS.ErrnoException, stream: Duplex) =>
      this.clientError(err, stream),
    );
    this.tcp = createTcpServer({ noDelay: true }, (socket) => this.accept(socket));
  }

  /** Unauthenticated inbound connections held now (never above maxPending). */
  get pending(): number {
    return this.admission.size;
  }

  /** Inbound connections closed to make room for newer ones, since start. */
  get evicted(): number {
    return this.evictedCount;
  }

  /** Newcomers reset because every socket of their address was younger than protectMs, since start. */
  get refused(): number {
    return this.refusedCount;
  }

  /** Accepted sockets that have no WebSocket yet. */
  get upgrading(): number {
    return this.beforeUpgrade.size;
  }

  async listen(): Promise<{ port: number }> {
    await new Promise<void>((resolve, reject) => {
      this.tcp.once("error", reject);
      this.tcp.listen(this.opts.port, this.opts.host, () => {
        this.tcp.off("error", reject);
        resolve();
      });
    });
    this.tcp.on("error", (err) => this.opts.log.error("peer server error", { err: err.message }));
    const a = this.tcp.address();
    if (typeof a === "string" || a === null) throw new Error("unexpected server address");
    return { port: a.port };
  }

  /** The connection's hello checked out: it now outranks sockets that said nothing. */
  promote(inbound: Inbound, rank: AdmissionRank): void {
    this.admission.promote(inbound as Entry, rank);
  }

  /** The connection authenticated or closed: it no longer counts. */
  release(inbound: Inbound): void {
    this.admission.remove(inbound as Entry);
  }

  /** Stops accepting and resets the sockets that have no WebSocket yet (the owner closes the rest). */
  close(): void {
    if (this.closing) return;
    this.closing = true;
    this.tcp.close();
    for (const e of [...this.beforeUpgrade]) e.socket.destroy();
  }

  private accept(socket: Socket): void {
    // Resets are routine under a flood; the close event below does the bookkeeping.
    socket.on("error", () => {});
    if (this.closing) {
      socket.destroy();
      return;
    }
    const now = Date.now();
    const entry: Entry = {
      remote: `${socket.remoteAddress}:${socket.remotePort}`,
      acceptedAt: now,
      socket,
      stream: socket,
    };
    // Counted before a single TLS byte is read: the newcomer displaces the oldest idle socket.
    const victims = this.admission.admit(
      entry,
      sourceKey(socket.remoteAddress),
      (own) => own.conn !== undefined || now - own.acceptedAt >= this.opts.protectMs,
    );
    if (victims === null) {
      this.refusedCount++;
      socket.destroy();
      return;
    }
    for (const victim of victims) this.evict(victim);
    this.logEvictions(entry.remote);
    const stream = this.secureContext
      ? new TLSSocket(socket, { isServer: true, secureContext: this.secureContext })
      : socket;
    (entry as { stream: Socket }).stream = stream;
    this.beforeUpgrade.add(entry);
    socket.once("close", () => {
      clearTimeout(entry.timer);
      this.beforeUpgrade.delete(entry);
      this.admission.remove(entry);
    });
    entry.timer = setTimeout(() => {
      if (!entry.conn) socket.destroy();
    }, this.opts.upgradeTimeoutMs);
    entry.timer.unref();
    this.byStream.set(stream, entry);
    this.http.emit("connection", stream);
  }

  private evict(victim: Entry): void {
    this.evictedCount++;
    // Past the upgrade the dialer can be told (4003) and redials; before it, a reset is all there is.
    if (victim.conn) victim.conn.close(4003, "too_many_handshakes");
    else victim.socket.destroy();
  }

  private logEvictions(remote: string): void {
    const now = Date.now();
    if (this.evictedCount === 0 || now - this.lastEvictionLog < EVICTION_LOG_INTERVAL_MS) return;
    // A flood evicts thousands a second: one line per interval, not one per socket.
    this.lastEvictionLog = now;
    this.opts.log.warn("evicting unauthenticated peer connections", {
      remote,
      evictedTotal: this.evictedCount,
      handshaking: this.admission.size,
    });
  }

  private upgrade(req: IncomingMessage, stream: Duplex, head: Buffer): void {
    const entry = this.byStream.get(stream);
    if (!entry || entry.socket.destroyed || this.closing) {
      stream.destroy();
      return;
    }
    this.wss.handleUpgrade(req, stream, head, (ws) => {
      clearTimeout(entry.timer);
      this.beforeUpgrade.delete(entry);
      this.opts.onWebSocket(ws, entry);
    });
  }

  private clientError(err: NodeJS.ErrnoException, stream: Duplex): void {
    const entry = this.byStream.get(stream);
    if (entry && err.code === "ERR_SSL_HTTP_REQUEST") {
      // A plain dialer: TLS is gone, so say why in clear on the TCP socket itself.
      entry.socket.end(PLAIN_REFUSAL);
      return;
    }
    if (!this.secureContext && stream.writable) {
      // Not HTTP at all; a TLS dialer reads this as "wrong version number".
      stream.end(NOT_HTTP);
      setTimeout(() => stream.destroy(), 1000).unref();
      return;
    }
    stream.destroy();
  }
}
