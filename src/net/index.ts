// The peer layer's public surface, so src/node imports one module.
export { PeerNetwork, type PeerNetworkOptions, type PeerNetworkEvents } from "./peer-network.js";
export type {
  PeerTransport,
  PeerTransportEvents,
  PeerTransportEvent,
  Handler,
  CallTarget,
  CallOptions,
  PeerInfo,
} from "./peer-transport.js";
export { MemoryPeerHub, MemoryPeerNetwork, type MemoryPeerNetworkOptions } from "./memory-peer-network.js";
export { NetError } from "./frame.js";
export {
  createMembershipToken,
  parseMembershipToken,
  verifyMembershipToken,
  createJoinToken,
  parseJoinToken,
  checkJoinToken,
  checkPeerProof,
  type MembershipTokenPayload,
  type JoinTokenPayload,
  type ParsedJoinToken,
} from "./membership.js";
export { createKeyPairSigner, verifyEd25519, nodeIdOf, type NodeSigner, type KeySigner } from "./signer.js";
export { createDevNetwork, RawPeer, type DevNetwork } from "./dev-network.js";
