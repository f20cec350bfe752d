// What a Flowchain node needs from its peer layer, and nothing more: listen, serve methods, call
// a member, hear who connected. PeerNetwork (WebSocket, src/net/peer-network.ts) is the real one;
// MemoryPeerNetwork (in-process, src/net/memory-peer-network.ts) gives node-level tests the same
// semantics with fault hooks. Both share the handler table below so a handler sees the same
// `from`, the same unknown-method error and the same JSON copy on a self call.
import { InputError } from "../util/errors.js";
import { fromWireError, NetError, toWireError } from "./frame.js";

/** An authenticated peer: the id is proven by the handshake, never read from a payload. */
export interface PeerInfo {
  id: string;
  addr: string;
  publicKeyHex: string;
}

/** Serves one method; `from` is the authenticated caller. What it throws reaches the caller rebuilt. */
export type Handler = (params: unknown, from: { id: string; addr: string }) => Promise<unknown>;

export interface CallTarget {
  addr: string;
  /** When given, the authenticated peer must have this id. */
  id?: string;
}

export interface CallOptions {
  /** Overrides the transport's default per-call timeout. */
  timeoutMs?: number;
}

/** Every event a peer transport emits, with its payload. */
export interface PeerTransportEvents {
  /** First authenticated connection with this peer (either direction). */
  peer: [PeerInfo];
  /** The last connection with this peer closed. */
  "peer-closed": [PeerInfo];
}

export type PeerTransportEvent = keyof PeerTransportEvents;
type Listener<K extends PeerTransportEvent> = (...args: PeerTransportEvents[K]) => void;

export interface PeerTransport {
  /** This node's id (sha256 of its public key). */
  readonly id: string;
  /** "host:port" peers reach us at; throws before listen() unless an address was given. */
  readonly addr: string;
  listen(): Promise<{ host: string; port: number }>;
  handle(method: string, handler: Handler): void;
  /**
   * Calls `method` on the member at `to`. Rejects with the remote handler's error (same class and
   * code), or NetError: "timeout", "unreachable", "closed", "unknown_method", "too_large", ...;
   * AuthError when the peer is not a member or (with `to.id`) not the expected one.
   */
  call(to: CallTarget, method: string, params: unknown, opts?: CallOptions): Promise<unknown>;
  /** Peers with at least one open authenticated connection. */
  peers(): PeerInfo[];
  /**
   * Closes every connection with this member and refuses it from now on (the admin removed it).
   * Optional: a transport without it still has the node refuse the member at every method.
   */
  ban?(id: string): void;
  /**
   * The proof shown in handshakes from now on: a node admitted with a join token shows the
   * membership token it was given instead, so it still gets in once the join token expires.
   * Must pass the same check as the proof the transport was built with.
   */
  setProof?(proof: string): void;
  close(): Promise<void>;
  on<K extends PeerTransportEvent>(event: K, listener: Listener<K>): this;
  once<K extends PeerTransportEvent>(event: K, listener: Listener<K>): this;
  off<K extends PeerTransportEvent>(event: K, listener: Listener<K>): this;
}

const METHOD_NAME = /^[A-Za-z0-9_.:/-]{1,128}$/;

/** The methods a transport serves. */
export class HandlerTable {
  private readonly handlers = new Map<string, Handler>();

  set(method: string, handler: Handler): void {
    if (!METHOD_NAME.test(method)) throw new InputError("bad_method", `invalid method name: ${method}`);
    this.handlers.set(method, handler);
  }

  /** Runs the handler; a rejection (never a synchronous throw) for unknown methods. */
  dispatch(method: string, params: unknown, from: PeerInfo): Promise<unknown> {
    const h = this.handlers.get(method);
    if (!h) return Promise.reject(new NetError("unknown_method", `unknown method: ${method.slice(0, 128)}`));
    return h(params, { id: from.id, addr: from.addr });
  }

  /** A node calling itself (a one-node ring) skips the wire but keeps its JSON and error semantics. */
  async callSelf(method: string, params: unknown, self: PeerInfo): Promise<unknown> {
    const p = jsonCopy(params);
    try {
      return jsonCopy(await this.dispatch(method, p, self));
    } catch (err) {
      throw fromWireError(toWireError(err));
    }
  }
}

/** What crosses the wire: a JSON copy, undefined as null. */
function jsonCopy(v: unknown): unknown {
  return JSON.parse(JSON.stringify(v ?? null)) as unknown;
}
