// Ed25519 with node:crypto, in one place for every layer: raw 32-byte keys as hex on the wire,
// KeyObjects built once and cached (building one costs about as much as a verify).
import { createPrivateKey, createPublicKey, verify, type KeyObject } from "node:crypto";
import { sha256Hex } from "./hash.js";
import { isHex128, isHex64 } from "./hex.js";

// DER headers that turn raw Ed25519 bytes into SPKI / PKCS#8 without a JWK detour.
const SPKI_PREFIX = Buffer.from("302a300506032b6570032100", "hex");
const PKCS8_PREFIX = Buffer.from("302e020100300506032b657004220420", "hex");

// Bounded: keys arrive from unauthenticated peers.
const keyCache = new Map<string, KeyObject>();
const KEY_CACHE_MAX = 4096;

export function isPublicKeyHex(s: unknown): s is string {
  return isHex64(s);
}

/** A public KeyObject from a raw key in hex; throws if the bytes are not a curve point. */
export function publicKeyFromHex(publicKeyHex: string): KeyObject {
  let key = keyCache.get(publicKeyHex);
  if (key) return key;
  key = createPublicKey({
    key: Buffer.concat([SPKI_PREFIX, Buffer.from(publicKeyHex, "hex")]),
    format: "der",
    type: "spki",
  });
  if (keyCache.size >= KEY_CACHE_MAX) keyCache.clear();
  keyCache.set(publicKeyHex, key);
  return key;
}

/** A private KeyObject from a raw 32-byte seed. */
export function privateKeyFromSeed(seed: Uint8Array): KeyObject {
  return createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, seed]), format: "der", type: "pkcs8" });
}

/** The raw public key, as hex, of a private (or public) KeyObject. */
export function publicKeyHexOf(key: KeyObject): string {
  const spki = createPublicKey(key).export({ format: "der", type: "spki" });
  return spki.subarray(spki.length - 32).toString("hex");
}

/** True iff `signatureHex` is a valid Ed25519 signature by `publicKeyHex` over `data`. Never throws. */
export function verifyEd25519(
  publicKeyHex: unknown,
  data: Uint8Array | string,
  signatureHex: unknown,
): boolean {
  if (!isHex64(publicKeyHex) || !isHex128(signatureHex)) return false;
  try {
    const bytes = typeof data === "string" ? Buffer.from(data, "utf8") : data;
    return verify(null, bytes, publicKeyFromHex(publicKeyHex), Buffer.from(signatureHex, "hex"));
  } catch {
    // 32 bytes that are not a curve point make createPublicKey throw: that is "invalid".
    return false;
  }
}

let lastKey = "";
let lastId = "";
/** The node id of a public key: SHA-256 of its raw bytes, also its position on the ring. */
export function nodeIdOf(publicKeyHex: string): string {
  // Verifying a branch asks this for the same key once per record.
  if (publicKeyHex === lastKey) return lastId;
  lastId = sha256Hex(Buffer.from(publicKeyHex, "hex"));
  lastKey = publicKeyHex;
  return lastId;
}
