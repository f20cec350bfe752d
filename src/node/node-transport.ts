// How a node gets its peer transport: PeerNetwork (sockets) by default, the in-memory twin in the
// in-process cluster, so the same node code runs on either.
import type { PeerNetworkOptions, PeerTransport } from "../net/index.js";

export type NodeTransport = PeerTransport;
export type TransportFactory = (init: PeerNetworkOptions) => NodeTransport;
