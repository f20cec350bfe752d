// Lowercase-hex shapes that cross process boundaries (ids, keys, hashes, signatures). One place, so
// a tightened check (e.g. uppercase refused) holds everywhere at once.
export const HEX64 = /^[0-9a-f]{64}$/;
export const HEX128 = /^[0-9a-f]{128}$/;

/** 32 bytes as 64 lowercase hex characters: a node id, a SHA-256, a raw Ed25519 public key. */
export function isHex64(x: unknown): x is string {
  return typeof x === "string" && HEX64.test(x);
}

/** 64 bytes as 128 lowercase hex characters: an Ed25519 signature. */
export function isHex128(x: unknown): x is string {
  return typeof x === "string" && HEX128.test(x);
}
