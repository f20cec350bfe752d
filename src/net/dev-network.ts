// A throwaway permissioned network (fresh admin key and network id) for tests and benchmarks,
// so each of them does not re-implement minting members.
import { randomBytes } from "node:crypto";
import { WebSocket } from "ws";
import type { HelloFrame } from "./frame.js";
import { createHello, signTranscript, type LocalIdentity } from "./handshake.js";
import { createMembershipToken } from "./membership.js";
import type { Socket } from "node:net";
import { PeerNetwork, channelBinding, type PeerNetworkOptions } from "./peer-network.js";
import { createKeyPairSigner, type NodeSigner } from "./signer.js";

export interface TeardownOwner {
  teardown(fn: () => unknown): void;
}

export interface DevNetwork {
  admin: NodeSigner;
  networkId: string;
  /** Options for a new member on 127.0.0.1, port 0, with a fresh key and a fresh admin-signed token. */
  memberOptions(extra?: Partial<PeerNetworkOptions>): PeerNetworkOptions;
  /** A member's identity for a RawPeer handshake, with a fresh key and token unless overridden. */
  identity(over?: Partial<LocalIdentity>): LocalIdentity;
  /** A new member, already listening; closed by `owner`'s teardown if given (an ava test), else by the caller. */
  start(extra?: Partial<PeerNetworkOptions>, owner?: TeardownOwner): Promise<PeerNetwork>;
}

export function createDevNetwork(admin: NodeSigner = createKeyPairSigner(), networkId?: string): DevNetwork {
  const id = networkId ?? randomBytes(8).toString("hex");
  const memberOptions = (extra: Partial<PeerNetworkOptions> = {}): PeerNetworkOptions => ({
    signer: createKeyPairSigner(),
    networkId: id,
    adminPublicKey: admin.publicKeyHex,
    proof: createMembershipToken(admin, { networkId: id, name: "dev" }),
    host: "127.0.0.1",
    port: 0,
    ...extra,
  });
  return {
    admin,
    networkId: id,
    memberOptions,
    identity: (over = {}) => ({
      signer: createKeyPairSigner(),
      networkId: id,
      adminPublicKey: admin.publicKeyHex,
      proof: createMembershipToken(admin, { networkId: id, name: "dev" }),
      addr: "127.0.0.1:1",
      ...over,
    }),
    start: async (extra, owner) => {
      const p = new PeerNetwork(memberOptions(extra));
      owner?.teardown(() => p.close());
      try {
        await p.listen();
      } catch (err) {
        await p.close();
        throw err;
      }
      return p;
    },
  };
}

/**
 * A bare WebSocket to a peer port that speaks frames by hand: how tests play a broken, hostile
 * or stalled peer that a PeerNetwork would never be.
 */
export class RawPeer {
  readonly ws: WebSocket;
  readonly opened: Promise<void>;
  readonly closed: Promise<{ code: number; reason: string }>;
  private readonly frames: Array<Record<string, unknown>> = [];
  private wake: (() => void) | undefined;

  private socket: Socket | undefined;
  private readonly tls: boolean;

  /**
   * `localAddress` picks the source address (e.g. 127.0.0.2 to look like a second host); `tls`
   * (default true, as PeerNetwork's) must match the peer port's.
   */
  constructor(addr: string, opts: { localAddress?: string; tls?: boolean } = {}) {
    this.tls = opts.tls ?? true;
    this.ws = new WebSocket(`${this.tls ? "wss" : "ws"}://${addr}`, {
      perMessageDeflate: false,
      localAddress: opts.localAddress,
      rejectUnauthorized: false,
    });
    this.ws.once("upgrade", (res) => (this.socket = res.socket));
    this.ws.on("message", (d) => {
      this.frames.push(JSON.parse(d.toString()) as Record<string, unknown>);
      this.wake?.();
    });
    let error: Error | undefined;
    this.ws.on("error", (err) => (error ??= err));
    // Rejects if the socket closes first (evicted or timed out before the upgrade), so no test waits forever.
    this.opened = new Promise((resolve, reject) => {
      this.ws.once("open", () => resolve());
      this.ws.once("close", () =>
        reject(new Error(`the connection closed before it opened: ${error?.message ?? "no error"}`)),
      );
    });
    this.opened.catch(() => {});
    this.closed = new Promise((resolve) =>
      this.ws.on("close", (code, reason) => {
        this.isClosed = true;
        this.wake?.();
        resolve({ code, reason: reason.toString() });
      }),
    );
  }

  send(frame: unknown): void {
    this.ws.send(typeof frame === "string" ? frame : JSON.stringify(frame));
  }

  private isClosed = false;

  /** The next frame received, in order; rejects once the socket closed with none left. */
  async next(): Promise<Record<string, unknown>> {
    while (this.frames.length === 0) {
      if (this.isClosed) throw new Error("the connection closed before another frame arrived");
      await new Promise<void>((r) => (this.wake = r));
    }
    return this.frames.shift()!;
  }

  /** The TLS session's keying material the handshake signs ("" over plain ws). */
  binding(): string {
    return channelBinding(this.tls, this.socket);
  }

  /** Runs the dialer's side of the handshake as `self`; returns the frames sent, for replays. */
  async handshake(self: LocalIdentity): Promise<{ hello: HelloFrame; auth: { t: "auth"; sig: string } }> {
    await this.opened;
    const hello = createHello(self);
    this.send(hello);
    const serverHello = (await this.next()) as unknown as HelloFrame;
    const auth = {
      t: "auth" as const,
      sig: signTranscript(self, "dialer", hello, serverHello, this.binding()),
    };
    this.send(auth);
    const ok = await this.next();
    if (ok.t !== "ok") throw new Error(`handshake failed: ${JSON.stringify(ok)}`);
    return { hello, auth };
  }
}
