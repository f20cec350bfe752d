// One WebSocket to one peer: runs the handshake, then carries requests both ways. It owns the ws
// from the first byte so that no frame can slip past the state machine, and every failure path
// ends in exactly one close() that rejects what is pending.
// The handshake and the request/response multiplexing stay together on purpose: they are one
// state machine over one socket (a request frame is legal only in state "open", a handshake
// frame only before it), and both end in the same closeLocal(); cut apart, each half would need
// the other's state and close path. Flow control, which only decides when bytes may be written,
// is send-gate.ts; the handshake's messages and signatures are handshake.ts.
import { randomBytes } from "node:crypto";
import type { WebSocket, RawData } from "ws";
import type { Logger } from "../log.js";
import { AuthError } from "../util/errors.js";
import {
  decodeFrame,
  fromWireError,
  NetError,
  toWireError,
  type Frame,
  type HelloFrame,
  type WireError,
} from "./frame.js";
import {
  checkHello,
  createHello,
  signTranscript,
  verifyTranscript,
  type LocalIdentity,
  type Role,
} from "./handshake.js";
import type { PeerInfo } from "./peer-transport.js";
import { SendGate } from "./send-gate.js";

/** Close codes (4000-4999 are the application range of RFC 6455). */
export const CloseCode = {
  normal: 1000,
  goingAway: 1001,
  handshakeTimeout: 4000,
  authFailed: 4001,
  protocolError: 4002,
  tooManyConnections: 4003,
} as const;

export type { PeerInfo };

export interface ConnectionOptions {
  self: LocalIdentity;
  role: Role;
  maxFrameBytes: number;
  handshakeTimeoutMs: number;
  /** Listener only: the dialer's hello must arrive this soon (capped by handshakeTimeoutMs). */
  helloTimeoutMs?: number;
  /** When handshakeTimeoutMs started to run (listener: at the TCP accept, before TLS); default now. */
  startedAt?: number;
  maxPending: number;
  maxInflight: number;
  highWaterBytes: number;
  log: Logger;
  /** The TLS session's exported keying material as hex ("" over plain WebSocket), signed in the handshake. */
  channelBinding?: () => string;
  /** Runs a request's handler; throws NetError("unknown_method") for unknown methods. */
  dispatch(method: string, params: unknown, from: PeerInfo): Promise<unknown>;
}

type State = "connecting" | "await-hello" | "await-auth" | "await-ok" | "open" | "closed";

interface Pending {
  resolve(v: unknown): void;
  reject(e: Error): void;
  timer: NodeJS.Timeout;
}

// A peer that ignores our close frame must not hold its socket (and memory) for ws's default 30 s.
const TERMINATE_AFTER_CLOSE_MS = 1000;

export class Connection {
  readonly role: Role;
  readonly remote: string;
  /** Resolves once both sides are authenticated; rejects with AuthError/NetError otherwise. */
  readonly ready: Promise<PeerInfo>;
  peer: PeerInfo | undefined;
  onClose: ((conn: Connection) => void) | undefined;
  /** Listener only: the dialer's hello passed checkHello; `id` is claimed, not yet proven. */
  onHello: ((conn: Connection, claimedId: string) => void) | undefined;
  /** The close code the peer sent, once its close frame arrived. */
  peerCloseCode: number | undefined;

  private state: State;
  private readonly ws: WebSocket;
  private readonly opts: ConnectionOptions;
  private readonly log: Logger;
  private readonly pending = new Map<number, Pending>();
  private nextId = 0;
  private inflight = 0;
  private myHello: HelloFrame | undefined;
  private peerHello: HelloFrame | undefined;
  private readyResolve!: (p: PeerInfo) => void;
  private readyReject!: (e: Error) => void;
  private handshakeTimer: NodeJS.Timeout | undefined;
  private readonly startedAt: number;
  private readonly gate: SendGate;
  private heardSinceTick = true;

  constructor(ws: WebSocket, remote: string, opts: ConnectionOptions) {
    this.ws = ws;
    this.remote = remote;
    this.opts = opts;
    this.role = opts.role;
    this.log = opts.log;
    this.startedAt = opts.startedAt ?? Date.now();
    this.gate = new SendGate(
      { ws, log: opts.log, isOpen: () => this.state === "open" },
      { highWaterBytes: opts.highWaterBytes, remote },
    );
    this.ready = new Promise<PeerInfo>((resolve, reject) => {
      this.readyResolve = resolve;
      this.readyReject = reject;
    });
    // Callers that never await ready (inbound connections) must not cause unhandled rejections.
    this.ready.catch(() => {});
    this.state = opts.role === "dialer" ? "connecting" : "await-hello";
    const helloMs = opts.role === "listener" ? (opts.helloTimeoutMs ?? Infinity) : Infinity;
    // The hello is due helloMs after the WebSocket opened; the whole handshake, from startedAt.
    this.armHandshakeTimer(Math.min(helloMs, opts.handshakeTimeoutMs - (Date.now() - this.startedAt)));

    ws.on("message", (data, isBinary) => {
      this.heardSinceTick = true;
      this.onMessage(data, isBinary);
    });
    ws.on("pong", () => (this.heardSinceTick = true));
    ws.on("error", (err) => {
      // ws reports oversize frames (1009) and socket errors here; it closes the socket itself.
      const code = (err as { code?: string }).code;
      // ws's own WS_ERR_* codes mean the peer broke the protocol (oversize, bad opcode, bad UTF-8).
      if (code?.startsWith("WS_ERR_")) {
        this.log.warn("peer protocol error", {
          remote: this.remote,
          peer: this.peer?.id,
          code,
          message: err.message,
        });
      } else {
        this.log.debug("peer socket error", { remote: this.remote, err: err.message });
      }
      const unreachable = this.state === "connecting";
      this.closeLocal(
        unreachable
          ? new NetError("unreachable", `cannot connect to ${this.remote}: ${err.message}`)
          : new NetError("closed", `connection to ${this.remote} failed: ${code ?? err.message}`),
      );
    });
    ws.on("close", (code, reasonBuf) => {
      this.peerCloseCode = code;
      const reason = reasonBuf.toString();
      const err =
        code === CloseCode.authFailed
          ? new AuthError(reason || "auth_failed", `peer ${this.remote} refused the handshake: ${reason}`)
          : new NetError(
              "closed",
              `connection to ${this.remote} closed (${code}${reason ? " " + reason : ""})`,
            );
      this.closeLocal(err);
    });
    if (opts.role === "dialer") {
      ws.on("open", () => {
        if (this.state !== "connecting") return;
        this.myHello = createHello(opts.self);
        this.state = "await-hello";
        this.sendRaw(this.myHello);
      });
    }
  }

  /**
   * One heartbeat tick: a peer that has not answered the previous ping (and sent nothing else)
   * since the last tick is gone without a FIN (partition, frozen process); drop it so the next
   * call redials instead of timing out on a dead socket forever.
   */
  heartbeat(): void {
    if (this.state !== "open") return;
    if (!this.heardSinceTick) {
      this.log.warn("peer stopped answering pings", { remote: this.remote, peer: this.peer?.id });
      this.ws.terminate();
      this.closeLocal(new NetError("closed", `peer ${this.remote} stopped answering`));
      return;
    }
    this.heardSinceTick = false;
    try {
      this.ws.ping();
    } catch {
      // The socket is closing; its close event cleans up.
    }
  }

  get isOpen(): boolean {
    return this.state === "open";
  }

  /** Diagnostics: what this connection holds right now. */
  stats(): { pending: number; inflight: number; bufferedBytes: number; blockedSends: number } {
    return { pending: this.pending.size, inflight: this.inflight, ...this.gate.stats() };
  }

  /** Sends one request; resolves with the result or rejects with the remote error, "timeout" or "closed". */
  request(method: string, params: unknown, timeoutMs: number): Promise<unknown> {
    if (this.state !== "open")
      return Promise.reject(new NetError("closed", `connection to ${this.remote} is closed`));
    if (this.pending.size >= this.opts.maxPending) {
      return Promise.reject(new NetError("busy", `too many pending requests to ${this.remote}`));
    }
    const id = this.nextId++;
    let text: string;
    try {
      text = JSON.stringify({ t: "req", id, m: method, p: params ?? null });
    } catch (err) {
      return Promise.reject(new NetError("bad_params", `params are not JSON: ${(err as Error).message}`));
    }
    if (Buffer.byteLength(text) > this.opts.maxFrameBytes) {
      return Promise.reject(new NetError("too_large", `request exceeds ${this.opts.maxFrameBytes} bytes`));
    }
    return new Promise<unknown>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new NetError("timeout", `${method} to ${this.remote} timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, { resolve, reject, timer });
      this.gate.sendRequest(text).catch((err: Error) => {
        const p = this.pending.get(id);
        if (!p) return;
        this.pending.delete(id);
        clearTimeout(p.timer);
        p.reject(err);
      });
    });
  }

  /** Closes the connection on our own initiative (shutdown, duplicate). */
  close(code: number = CloseCode.goingAway, reason = "closing"): void {
    if (this.state === "closed") return;
    this.closeWs(code, reason);
    this.closeLocal(new NetError("closed", `connection to ${this.remote} closed locally`));
  }

  private onMessage(data: RawData, isBinary: boolean): void {
    if (this.state === "closed") return;
    if (isBinary) {
      this.protocolError("binary_frame", "binary frames are not accepted");
      return;
    }
    let frame: Frame;
    try {
      frame = decodeFrame(rawToString(data));
    } catch (err) {
      const code = (err as { code?: string }).code ?? "bad_frame";
      this.protocolError(code, (err as Error).message);
      return;
    }
    try {
      this.onFrame(frame);
    } catch (err) {
      // Only a bug lands here, but a bug must cost one connection, never the process.
      this.log.error("peer frame handling failed", { remote: this.remote, err: (err as Error).message });
      this.fail(CloseCode.protocolError, "internal_error", new NetError("closed", "internal error"));
    }
  }

  private onFrame(frame: Frame): void {
    switch (this.state) {
      case "await-hello":
        if (frame.t !== "hello")
          return this.protocolError("unexpected_frame", `expected hello, got ${frame.t}`);
        return this.role === "listener" ? this.onDialerHello(frame) : this.onListenerHello(frame);
      case "await-auth":
        if (frame.t !== "auth")
          return this.protocolError("unexpected_frame", `expected auth, got ${frame.t}`);
        return this.onAuth(frame.sig);
      case "await-ok":
        if (frame.t === "err")
          return this.fail(CloseCode.protocolError, frame.e.code, fromWireError(frame.e));
        if (frame.t !== "ok") return this.protocolError("unexpected_frame", `expected ok, got ${frame.t}`);
        return this.authenticated();
      case "open":
        if (frame.t === "req") return this.onRequest(frame.id, frame.m, frame.p);
        if (frame.t === "res") return this.settle(frame.id, frame.r, undefined);
        if (frame.t === "err") {
          if (frame.id === null) {
            this.log.warn("peer reported a connection error", {
              remote: this.remote,
              peer: this.peer?.id,
              ...frame.e,
            });
            return;
          }
          return this.settle(frame.id, undefined, frame.e);
        }
        return this.protocolError("unexpected_frame", `unexpected ${frame.t} after handshake`);
      default:
        return this.protocolError("unexpected_frame", `unexpected ${frame.t} while ${this.state}`);
    }
  }

  private binding(): string {
    try {
      return this.opts.channelBinding?.() ?? "";
    } catch {
      // No keying material (the socket is gone): a binding nobody else can produce fails the check.
      return randomBytes(32).toString("hex");
    }
  }

  private onDialerHello(hello: HelloFrame): void {
    const why = checkHello(hello, this.opts.self);
    if (why) return this.refuse(why, hello);
    this.peerHello = hello;
    // The hello came in time; what is left of the whole handshake's budget still applies.
    this.armHandshakeTimer(this.opts.handshakeTimeoutMs - (Date.now() - this.startedAt));
    this.onHello?.(this, hello.id);
    this.myHello = createHello(this.opts.self);
    const sig = signTranscript(this.opts.self, "listener", hello, this.myHello, this.binding());
    this.state = "await-auth";
    this.sendRaw({ ...this.myHello, sig });
  }

  private onListenerHello(hello: HelloFrame): void {
    const why = checkHello(hello, this.opts.self);
    if (why) return this.refuse(why, hello);
    if (
      !hello.sig ||
      !verifyTranscript("listener", this.opts.self.networkId, this.myHello!, hello, hello.sig, this.binding())
    ) {
      return this.refuse("bad_signature", hello);
    }
    this.peerHello = hello;
    const sig = signTranscript(this.opts.self, "dialer", this.myHello!, hello, this.binding());
    this.state = "await-ok";
    this.sendRaw({ t: "auth", sig });
  }

  private onAuth(sig: string): void {
    const hello = this.peerHello!;
    if (!verifyTranscript("dialer", this.opts.self.networkId, hello, this.myHello!, sig, this.binding())) {
      return this.refuse("bad_signature", hello);
    }
    this.sendRaw({ t: "ok" });
    this.authenticated();
  }

  private authenticated(): void {
    const h = this.peerHello!;
    clearTimeout(this.handshakeTimer);
    this.peer = { id: h.id, addr: h.addr, publicKeyHex: h.publicKeyHex };
    this.state = "open";
    this.log.debug("peer authenticated", { remote: this.remote, peer: h.id, role: this.role });
    this.readyResolve(this.peer);
  }

  private armHandshakeTimer(ms: number): void {
    clearTimeout(this.handshakeTimer);
    this.handshakeTimer = setTimeout(
      () =>
        this.fail(
          CloseCode.handshakeTimeout,
          "handshake_timeout",
          new NetError("timeout", "handshake timed out"),
        ),
      Math.max(1, ms),
    );
    this.handshakeTimer.unref();
  }

  private refuse(reason: string, hello: HelloFrame): void {
    this.log.warn("refused peer handshake", {
      remote: this.remote,
      reason,
      claimedId: hello.id,
      networkId: hello.networkId,
    });
    this.fail(
      CloseCode.authFailed,
      reason,
      new AuthError(reason, `peer ${this.remote} failed authentication: ${reason}`),
    );
  }

  private protocolError(code: string, message: string): void {
    this.log.warn("peer protocol error", {
      remote: this.remote,
      peer: this.peer?.id,
      state: this.state,
      code,
      message,
    });
    // Tell the peer why before closing: a confused but honest peer can then fix itself.
    this.sendRaw({ t: "err", id: null, e: { code, message, kind: "net" } });
    this.fail(CloseCode.protocolError, code, new NetError("protocol_error", `${code}: ${message}`));
  }

  private fail(code: number, reason: string, err: Error): void {
    if (this.state === "closed") return;
    this.closeWs(code, reason);
    this.closeLocal(err);
  }

  private closeWs(code: number, reason: string): void {
    try {
      if (this.ws.readyState === this.ws.CONNECTING) {
        this.ws.terminate();
        return;
      }
      this.ws.close(code, reason.slice(0, 120));
      setTimeout(() => this.ws.terminate(), TERMINATE_AFTER_CLOSE_MS).unref();
    } catch (err) {
      this.log.debug("closing peer socket failed", { remote: this.remote, err: (err as Error).message });
    }
  }

  /** Releases everything this connection holds; idempotent. */
  private closeLocal(err: Error): void {
    if (this.state === "closed") return;
    const wasOpen = this.state === "open";
    this.state = "closed";
    clearTimeout(this.handshakeTimer);
    if (!wasOpen) this.readyReject(err);
    for (const [, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(err instanceof AuthError ? err : new NetError("closed", err.message));
    }
    this.pending.clear();
    this.gate.wakeAll();
    try {
      this.onClose?.(this);
    } catch (e) {
      this.log.error("connection close hook failed", { err: (e as Error).message });
    }
  }

  private onRequest(id: number, method: string, params: unknown): void {
    if (this.inflight >= this.opts.maxInflight) {
      // Every handler slot is taken and our answers are not being read: the peer is flooding
      // without reading, so even "busy" replies would pile up. Drop it.
      if (this.gate.overloaded()) {
        this.log.warn("peer overloads the connection", { remote: this.remote, peer: this.peer?.id });
        this.fail(
          CloseCode.protocolError,
          "overloaded",
          new NetError("closed", "peer overloaded the connection"),
        );
        return;
      }
      this.reply({ t: "err", id, e: { code: "busy", message: "too many concurrent requests", kind: "net" } });
      return;
    }
    this.inflight++;
    const from = this.peer!;
    // Promise.resolve().then turns a synchronous throw in dispatch/handler into a rejection.
    Promise.resolve()
      .then(() => this.opts.dispatch(method, params, from))
      .then(
        (result) => this.replyResult(id, result),
        (err: unknown) => {
          const e = toWireError(err);
          if (e.kind === "internal") {
            this.log.warn("peer request handler failed", { method, peer: from.id, err: e.message });
          }
          return this.reply({ t: "err", id, e });
        },
      )
      .catch((err: Error) => this.log.debug("reply not sent", { remote: this.remote, err: err.message }))
      .finally(() => this.inflight--);
  }

  /** Stringified only once the socket can take it, so a stalled peer holds results, not copies of them. */
  private replyResult(id: number, result: unknown): Promise<void> {
    return this.gate.send(() => {
      let text: string;
      try {
        text = JSON.stringify({ t: "res", id, r: result ?? null });
      } catch (err) {
        return JSON.stringify({
          t: "err",
          id,
          e: toWireError(new NetError("bad_result", (err as Error).message)),
        });
      }
      if (Buffer.byteLength(text) <= this.opts.maxFrameBytes) return text;
      const e: WireError = { code: "too_large", message: "result exceeds the frame size limit", kind: "net" };
      return JSON.stringify({ t: "err", id, e });
    });
  }

  private reply(frame: Frame): Promise<void> {
    return this.gate.send(() => JSON.stringify(frame));
  }

  private settle(id: number, result: unknown, error: WireError | undefined): void {
    const p = this.pending.get(id);
    // A late answer to a request that already timed out: nothing waits for it any more.
    if (!p) return;
    this.pending.delete(id);
    clearTimeout(p.timer);
    if (error) p.reject(fromWireError(error));
    else p.resolve(result);
  }

  /** Handshake frames are tiny and sent once; they bypass flow control. */
  private sendRaw(frame: Frame): void {
    if (this.ws.readyState !== this.ws.OPEN) return;
    this.ws.send(JSON.stringify(frame), (err) => {
      if (err) this.log.debug("send failed", { remote: this.remote, err: err.message });
    });
  }
}

function rawToString(data: RawData): string {
  if (Array.isArray(data)) return Buffer.concat(data).toString("utf8");
  if (data instanceof ArrayBuffer) return Buffer.from(data).toString("utf8");
  return data.toString("utf8");
}
