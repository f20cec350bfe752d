// What a node needs of its peer transport: PeerNetwork (sockets) and the in-memory twin used by
// the in-process cluster both provide it, so the same node code runs on either.
import type { PeerRef } from "../chord/transport.js";
import type { PeerNetworkOptions } from "../net/index.js";
import type { CallTransport } from "./protocol/peer-client.js";
import type { HandlerRegistry } from "./protocol/serve.js";

export interface NodeTransport extends CallTransport, HandlerRegistry {
  readonly addr: string;
  listen(): Promise<unknown>;
  close(): Promise<void>;
  /** A member authenticated a connection (either direction). */
  on(event: "peer", listener: (p: PeerRef) => void): unknown;
}

export type TransportFactory = (init: PeerNetworkOptions) => NodeTransport;
