// Mutual authentication of one connection. Three messages plus an ack:
//   dialer   -> hello(D)                      (D shows its proof only to the address it chose to dial)
//   listener -> hello(L) + sig_L(transcript)  (L shows its proof only to a peer that showed a valid one)
//   dialer   -> auth sig_D(transcript)
//   listener -> ok
// The transcript binds both nonces, both keys, both addresses and the network, and names the
// signer's role, so a signature is valid for exactly one connection and one direction: a
// replayed hello/auth meets a fresh listener nonce and fails, and a signature cannot be
// reflected back to its author. Over TLS the transcript also binds the session's exported keying
// material (RFC 8446 §7.5, RFC 9266's idea for TLS 1.3): a man in the middle runs two sessions
// with two different secrets, so neither side's signature verifies on the other.
import { randomBytes } from "node:crypto";
import { checkPeerProof } from "./membership.js";
import { nodeIdOf, verifyEd25519, type NodeSigner } from "./signer.js";
import type { HelloFrame } from "./frame.js";

export const PROTOCOL_VERSION = 1;
const DOMAIN = "flowchain/net-handshake/v2";
/** RFC 5705 exporter label of the channel binding; 32 bytes, no context. */
export const BINDING_LABEL = "EXPORTER-flowchain-peer-handshake";

export type Role = "dialer" | "listener";

export interface LocalIdentity {
  signer: NodeSigner;
  networkId: string;
  adminPublicKey: string;
  proof: string;
  addr: string;
}

export function createHello(self: LocalIdentity): HelloFrame {
  return {
    t: "hello",
    v: PROTOCOL_VERSION,
    networkId: self.networkId,
    id: self.signer.id,
    publicKeyHex: self.signer.publicKeyHex,
    proof: self.proof,
    nonce: randomBytes(32).toString("hex"),
    addr: self.addr,
  };
}

/** Why this hello is not from a member of our network, or null if it is. */
export function checkHello(
  hello: HelloFrame,
  expected: { networkId: string; adminPublicKey: string },
  now = Date.now(),
): string | null {
  if (hello.networkId !== expected.networkId) return "wrong_network";
  if (nodeIdOf(hello.publicKeyHex) !== hello.id) return "id_mismatch";
  // A join token is refused once expired (the reason names it, so the joiner can say what to do);
  // a membership token, what every admitted member shows, never expires.
  return checkPeerProof(hello.proof, expected, now);
}

function part(h: HelloFrame): string[] {
  return [h.id, h.publicKeyHex, h.nonce, h.addr, h.proof];
}

/** The exact bytes `signer` signs; JSON array encoding makes field boundaries unambiguous. */
export function transcript(
  signer: Role,
  networkId: string,
  dialer: HelloFrame,
  listener: HelloFrame,
  binding = "",
): string {
  return JSON.stringify([DOMAIN, signer, networkId, binding, part(dialer), part(listener)]);
}

export function signTranscript(
  self: LocalIdentity,
  role: Role,
  dialer: HelloFrame,
  listener: HelloFrame,
  binding = "",
): string {
  return self.signer.sign(transcript(role, self.networkId, dialer, listener, binding));
}

/** Checks the peer's signature; `role` is the peer's role. */
export function verifyTranscript(
  role: Role,
  networkId: string,
  dialer: HelloFrame,
  listener: HelloFrame,
  sig: string,
  binding = "",
): boolean {
  const peer = role === "dialer" ? dialer : listener;
  return verifyEd25519(peer.publicKeyHex, transcript(role, networkId, dialer, listener, binding), sig);
}
