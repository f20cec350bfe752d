// Ed25519 keys for the peer layer, verified with node:crypto only. The net layer must not depend
// on the ledger, so it names the shape it needs (NodeSigner) and the ledger's Identity satisfies
// it structurally.
import { generateKeyPairSync, sign, type KeyObject } from "node:crypto";
import { nodeIdOf, publicKeyHexOf } from "../util/ed25519.js";

export interface NodeSigner {
  /** sha256Hex(raw public key bytes): the node's ring id. */
  id: string;
  /** Raw 32-byte Ed25519 public key, lowercase hex. */
  publicKeyHex: string;
  /** Ed25519 signature over `data` (strings as UTF-8), lowercase hex. */
  sign(data: Uint8Array | string): string;
}

/** What an admin needs to mint join tokens: any signer, not necessarily a node. */
export type KeySigner = Pick<NodeSigner, "publicKeyHex" | "sign">;

export { isPublicKeyHex, publicKeyFromHex, verifyEd25519, nodeIdOf } from "../util/ed25519.js";

/** A NodeSigner over a fresh or given Ed25519 key pair (tests, benchmarks, tools). */
export function createKeyPairSigner(privateKey?: KeyObject): NodeSigner {
  const priv = privateKey ?? generateKeyPairSync("ed25519").privateKey;
  const publicKeyHex = publicKeyHexOf(priv);
  return {
    id: nodeIdOf(publicKeyHex),
    publicKeyHex,
    sign: (data) =>
      sign(null, typeof data === "string" ? Buffer.from(data, "utf8") : data, priv).toString("hex"),
  };
}
