// Permissioned membership (paper section 3): the network's admin key signs join tokens, and a
// node proves membership by presenting one. The token is self-describing so a joining node learns
// the network (id, name, admin key) from the token alone.
import { randomBytes } from "node:crypto";
import { InputError } from "../util/errors.js";
import { isPublicKeyHex, verifyEd25519, type KeySigner } from "./signer.js";

export interface JoinTokenPayload {
  network: string;
  name: string;
  adminPublicKey: string;
  /** Milliseconds since the epoch. */
  issued: number;
  /** 16 random bytes, hex: two tokens minted in the same millisecond still differ. */
  nonce: string;
}

export interface ParsedJoinToken {
  payload: JoinTokenPayload;
  signatureHex: string;
}

const PREFIX = "fc1";
// The admin key may also be a node or ledger key: a distinct domain string makes a token
// signature useless as any other kind of signature, and vice versa.
const DOMAIN = "flowchain/join-token/v1\n";
/** Tokens travel in handshakes from unauthenticated peers: refuse anything absurdly large. */
export const MAX_TOKEN_LENGTH = 4096;
const B64URL = /^[A-Za-z0-9_-]+$/;

function signedText(payloadB64: string): string {
  return DOMAIN + payloadB64;
}

export function createJoinToken(admin: KeySigner, opts: { networkId: string; name: string }): string {
  if (typeof opts.networkId !== "string" || opts.networkId.length === 0 || opts.networkId.length > 256) {
    throw new InputError("bad_network_id", "networkId must be a non-empty string of at most 256 chars");
  }
  if (typeof opts.name !== "string" || opts.name.length > 256) {
    throw new InputError("bad_name", "name must be a string of at most 256 chars");
  }
  const payload: JoinTokenPayload = {
    network: opts.networkId,
    name: opts.name,
    adminPublicKey: admin.publicKeyHex,
    issued: Date.now(),
    nonce: randomBytes(16).toString("hex"),
  };
  const payloadB64 = Buffer.from(JSON.stringify(payload), "utf8").toString("base64url");
  const sig = Buffer.from(admin.sign(signedText(payloadB64)), "hex").toString("base64url");
  return `${PREFIX}.${payloadB64}.${sig}`;
}

/** Decodes a token's structure without checking its signature. Throws InputError on any defect. */
export function parseJoinToken(token: unknown): ParsedJoinToken {
  const bad = (why: string) => new InputError("bad_token", `invalid join token: ${why}`);
  if (typeof token !== "string") throw bad("not a string");
  if (token.length > MAX_TOKEN_LENGTH) throw bad("too long");
  const parts = token.trim().split(".");
  if (parts.length !== 3 || parts[0] !== PREFIX) throw bad(`expected ${PREFIX}.<payload>.<signature>`);
  const [, payloadB64, sigB64] = parts;
  if (!B64URL.test(payloadB64) || !B64URL.test(sigB64)) throw bad("not base64url");
  const sig = Buffer.from(sigB64, "base64url");
  if (sig.length !== 64) throw bad("signature is not 64 bytes");
  // Base64 leaves spare bits in the last character: only the canonical spelling is the token, so a
  // token cannot be altered (in a proof, in a file) and still pass.
  if (sig.toString("base64url") !== sigB64) throw bad("signature is not canonical base64url");
  let raw: unknown;
  try {
    raw = JSON.parse(Buffer.from(payloadB64, "base64url").toString("utf8"));
  } catch {
    throw bad("payload is not JSON");
  }
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) throw bad("payload is not an object");
  const p = raw as Record<string, unknown>;
  if (typeof p.network !== "string" || p.network.length === 0) throw bad("network missing");
  if (typeof p.name !== "string") throw bad("name missing");
  if (!isPublicKeyHex(p.adminPublicKey)) throw bad("adminPublicKey is not 32 bytes of hex");
  if (typeof p.issued !== "number" || !Number.isSafeInteger(p.issued)) throw bad("issued is not an integer");
  if (typeof p.nonce !== "string" || !/^[0-9a-f]{1,128}$/.test(p.nonce)) throw bad("nonce is not hex");
  return {
    payload: {
      network: p.network,
      name: p.name,
      adminPublicKey: p.adminPublicKey,
      issued: p.issued,
      nonce: p.nonce,
    },
    signatureHex: sig.toString("hex"),
  };
}

/**
 * True iff the token is well formed, names this network and admin key, and carries the admin's
 * signature. Never throws: peers send tokens, so a bad one is an answer, not an exception.
 */
export function verifyJoinToken(
  token: unknown,
  expected: { networkId: string; adminPublicKey: string },
): boolean {
  let parsed: ParsedJoinToken;
  try {
    parsed = parseJoinToken(token);
  } catch {
    return false;
  }
  const { payload, signatureHex } = parsed;
  if (payload.network !== expected.networkId || payload.adminPublicKey !== expected.adminPublicKey)
    return false;
  const payloadB64 = (token as string).trim().split(".")[1];
  return verifyEd25519(payload.adminPublicKey, signedText(payloadB64), signatureHex);
}
