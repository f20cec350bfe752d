// Ed25519 keys for the peer layer, verified with node:crypto only. The net layer must not depend
// on the ledger, so it names the shape it needs (NodeSigner) and the ledger's Identity satisfies
// it structurally.
import { createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from "node:crypto";
import { sha256Hex } from "../util/hash.js";

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

// DER SubjectPublicKeyInfo header for an Ed25519 key: prefixing it to the raw 32 bytes lets
// node:crypto import a raw key without a JWK detour.
const SPKI_ED25519_PREFIX = Buffer.from("302a300506032b6570032100", "hex");

const HEX64 = /^[0-9a-f]{64}$/;
const HEX128 = /^[0-9a-f]{128}$/;

// Handshakes verify the same few keys over and over; importing a key costs about as much as a
// verify, so cache them. Bounded because keys arrive from unauthenticated peers.
const keyCache = new Map<string, KeyObject>();
const KEY_CACHE_MAX = 1024;

export function isPublicKeyHex(s: unknown): s is string {
  return typeof s === "string" && HEX64.test(s);
}

export function publicKeyFromHex(publicKeyHex: string): KeyObject {
  let key = keyCache.get(publicKeyHex);
  if (key) return key;
  key = createPublicKey({
    key: Buffer.concat([SPKI_ED25519_PREFIX, Buffer.from(publicKeyHex, "hex")]),
    format: "der",
    type: "spki",
  });
  if (keyCache.size >= KEY_CACHE_MAX) keyCache.clear();
  keyCache.set(publicKeyHex, key);
  return key;
}

/** True iff `signatureHex` is a valid Ed25519 signature by `publicKeyHex` over `data`. Never throws. */
export function verifyEd25519(
  publicKeyHex: string,
  data: Uint8Array | string,
  signatureHex: string,
): boolean {
  if (!isPublicKeyHex(publicKeyHex) || typeof signatureHex !== "string" || !HEX128.test(signatureHex)) {
    return false;
  }
  try {
    const bytes = typeof data === "string" ? Buffer.from(data, "utf8") : data;
    return verify(null, bytes, publicKeyFromHex(publicKeyHex), Buffer.from(signatureHex, "hex"));
  } catch {
    // A 32-byte string that is not a curve point makes createPublicKey throw: that is "invalid".
    return false;
  }
}

/** The id a node with this public key must present. */
export function nodeIdOf(publicKeyHex: string): string {
  return sha256Hex(Buffer.from(publicKeyHex, "hex"));
}

/** A NodeSigner over a fresh or given Ed25519 key pair (tests, benchmarks, tools). */
export function createKeyPairSigner(privateKey?: KeyObject): NodeSigner {
  const priv = privateKey ?? generateKeyPairSync("ed25519").privateKey;
  const spki = createPublicKey(priv).export({ format: "der", type: "spki" });
  const publicKeyHex = spki.subarray(spki.length - 32).toString("hex");
  return {
    id: nodeIdOf(publicKeyHex),
    publicKeyHex,
    sign: (data) =>
      sign(null, typeof data === "string" ? Buffer.from(data, "utf8") : data, priv).toString("hex"),
  };
}
