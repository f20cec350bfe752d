// Permissioned membership (paper section 3). The network's admin key signs two kinds of token:
// - the membership token (`fc1.`): what a member keeps (DATA/membership-token), shows in every
//   handshake and embeds in inclusion proofs. It never expires, so an admitted member and every
//   proof of its records stay valid;
// - the join token (`fc2.`): what a new node presents to get in. It carries an expiry and is
//   refused after it; a node admitted with one asks the peer it joined through for the membership
//   token (node/membership-exchange.ts) and keeps that instead.
// Both are self-describing, so a joining node learns the network (id, name, admin key) from the
// token alone. A token of either kind is a bearer credential: it does not name a node key.
import { createHash, randomBytes } from "node:crypto";
import { InputError } from "../util/errors.js";
import { isPublicKeyHex, verifyEd25519, type KeySigner } from "./signer.js";

export interface MembershipTokenPayload {
  network: string;
  name: string;
  adminPublicKey: string;
  /** Milliseconds since the epoch. */
  issued: number;
  /** 16 random bytes, hex: two tokens minted in the same millisecond still differ. */
  nonce: string;
}

export interface JoinTokenPayload extends MembershipTokenPayload {
  /** Milliseconds since the epoch; the token is refused from then on. */
  expires: number;
}

export interface ParsedToken<P> {
  payload: P;
  signatureHex: string;
}
export type ParsedMembershipToken = ParsedToken<MembershipTokenPayload>;
export type ParsedJoinToken = ParsedToken<JoinTokenPayload>;

/** One token format: its prefix, and the domain its signature is made in. */
interface Kind {
  prefix: string;
  domain: string;
  what: string;
}
// The admin key may also be a node or ledger key: a distinct domain string per kind makes a token
// signature useless as any other kind of signature (a join token is no membership token either).
const MEMBERSHIP: Kind = { prefix: "fc1", domain: "flowchain/join-token/v1\n", what: "membership token" };
const JOIN: Kind = { prefix: "fc2", domain: "flowchain/join-token/v2\n", what: "join token" };

/** Tokens travel in handshakes from unauthenticated peers: refuse anything absurdly large. */
export const MAX_TOKEN_LENGTH = 4096;
const B64URL = /^[A-Za-z0-9_-]+$/;

function checkNetwork(opts: { networkId: string; name: string }): void {
  if (typeof opts.networkId !== "string" || opts.networkId.length === 0 || opts.networkId.length > 256) {
    throw new InputError("bad_network_id", "networkId must be a non-empty string of at most 256 chars");
  }
  if (typeof opts.name !== "string" || opts.name.length > 256) {
    throw new InputError("bad_name", "name must be a string of at most 256 chars");
  }
}

function sign(kind: Kind, admin: KeySigner, payload: MembershipTokenPayload | JoinTokenPayload): string {
  const payloadB64 = Buffer.from(JSON.stringify(payload), "utf8").toString("base64url");
  const sig = Buffer.from(admin.sign(kind.domain + payloadB64), "hex").toString("base64url");
  return `${kind.prefix}.${payloadB64}.${sig}`;
}

function basePayload(admin: KeySigner, opts: { networkId: string; name: string }, issued: number) {
  checkNetwork(opts);
  return {
    network: opts.networkId,
    name: opts.name,
    adminPublicKey: admin.publicKeyHex,
    issued,
    nonce: randomBytes(16).toString("hex"),
  };
}

export function createMembershipToken(admin: KeySigner, opts: { networkId: string; name: string }): string {
  return sign(MEMBERSHIP, admin, basePayload(admin, opts, Date.now()));
}

/** A join token valid for `ttlMs` from `now` (default: the clock). */
export function createJoinToken(
  admin: KeySigner,
  opts: { networkId: string; name: string; ttlMs: number; now?: number },
): string {
  if (!Number.isSafeInteger(opts.ttlMs) || opts.ttlMs <= 0) {
    throw new InputError("bad_ttl", "a join token's ttl must be a positive whole number of milliseconds");
  }
  const issued = opts.now ?? Date.now();
  return sign(JOIN, admin, { ...basePayload(admin, opts, issued), expires: issued + opts.ttlMs });
}

/** The payload text and signature of a token of `kind`; throws InputError on any defect. */
function decode(kind: Kind, token: unknown): { p: Record<string, unknown>; sig: Buffer; payloadB64: string } {
  const bad = (why: string) => new InputError("bad_token", `invalid ${kind.what}: ${why}`);
  if (typeof token !== "string") throw bad("not a string");
  if (token.length > MAX_TOKEN_LENGTH) throw bad("too long");
  const parts = token.trim().split(".");
  if (parts.length !== 3 || parts[0] !== kind.prefix)
    throw bad(`expected ${kind.prefix}.<payload>.<signature>`);
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
  return { p, sig, payloadB64 };
}

function membershipPayload(p: Record<string, unknown>): MembershipTokenPayload {
  return {
    network: p.network as string,
    name: p.name as string,
    adminPublicKey: p.adminPublicKey as string,
    issued: p.issued as number,
    nonce: p.nonce as string,
  };
}

/** Decodes a membership token's structure without checking its signature. Throws InputError on any defect. */
export function parseMembershipToken(token: unknown): ParsedMembershipToken {
  const { p, sig } = decode(MEMBERSHIP, token);
  return { payload: membershipPayload(p), signatureHex: sig.toString("hex") };
}

/** Decodes a join token's structure without checking its signature or expiry. Throws InputError on any defect. */
export function parseJoinToken(token: unknown): ParsedJoinToken {
  const { p, sig } = decode(JOIN, token);
  if (
    typeof p.expires !== "number" ||
    !Number.isSafeInteger(p.expires) ||
    p.expires <= (p.issued as number)
  ) {
    throw new InputError("bad_token", "invalid join token: expires is not an integer after issued");
  }
  return { payload: { ...membershipPayload(p), expires: p.expires }, signatureHex: sig.toString("hex") };
}

/** True for text shaped like a join token (fc2), whether or not it is valid. */
export function isJoinToken(token: unknown): boolean {
  return typeof token === "string" && token.trim().startsWith(`${JOIN.prefix}.`);
}

/**
 * The payload of either kind of token (the network it names), structure checked, signature not.
 * Anything that is not a membership token is read, and its defects named, as a join token.
 */
export function parseAnyToken(token: unknown): ParsedMembershipToken | ParsedJoinToken {
  const membership = typeof token === "string" && token.trim().startsWith(`${MEMBERSHIP.prefix}.`);
  return membership ? parseMembershipToken(token) : parseJoinToken(token);
}

type Expected = { networkId: string; adminPublicKey: string };

function signedBy(kind: Kind, token: unknown, expected: Expected): boolean {
  let decoded: ReturnType<typeof decode>;
  try {
    decoded = decode(kind, token);
    if (kind === JOIN) parseJoinToken(token);
  } catch {
    return false;
  }
  const { p, sig, payloadB64 } = decoded;
  if (p.network !== expected.networkId || p.adminPublicKey !== expected.adminPublicKey) return false;
  return verifyEd25519(expected.adminPublicKey, kind.domain + payloadB64, sig.toString("hex"));
}

/**
 * True iff the membership token is well formed, names this network and admin key, and carries the
 * admin's signature. Never throws: peers send tokens, so a bad one is an answer, not an exception.
 */
export function verifyMembershipToken(token: unknown, expected: Expected): boolean {
  return signedBy(MEMBERSHIP, token, expected);
}

/** Why a join token does not admit its holder at `now`, or null if it does. Never throws. */
export function checkJoinToken(
  token: unknown,
  expected: Expected,
  now = Date.now(),
): "bad_token" | "expired_join_token" | null {
  if (!signedBy(JOIN, token, expected)) return "bad_token";
  return parseJoinToken(token).payload.expires <= now ? "expired_join_token" : null;
}

/**
 * Why a proof shown in a handshake does not admit its holder, or null if it does: a membership
 * token (any age) or a join token before its expiry. Never throws.
 */
export function checkPeerProof(
  proof: unknown,
  expected: Expected,
  now = Date.now(),
): "bad_proof" | "expired_join_token" | null {
  if (!isJoinToken(proof)) return verifyMembershipToken(proof, expected) ? null : "bad_proof";
  const why = checkJoinToken(proof, expected, now);
  return why === "bad_token" ? "bad_proof" : why;
}

/**
 * Throws unless this node may show `proof` at all: a valid membership token, or a well-signed
 * join token of any age (an expired one is for the peer to refuse, with a reason the user sees).
 */
export function assertOwnProof(proof: unknown, expected: Expected): void {
  const ok = isJoinToken(proof) ? signedBy(JOIN, proof, expected) : verifyMembershipToken(proof, expected);
  if (!ok) {
    throw new InputError(
      "bad_token",
      "own membership proof is not a valid token for this network and admin key (a membership token, or a join token)",
    );
  }
}

/** The id a token is listed by: the first 16 hex digits of its SHA-256, which reveal nothing of it. */
export function tokenId(token: string): string {
  return createHash("sha256").update(token.trim(), "utf8").digest("hex").slice(0, 16);
}
