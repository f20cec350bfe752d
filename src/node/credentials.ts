// Client credentials: bearer tokens the network's admin key signs, so any member checks one offline
// with the admin public key it already trusts (no shared secret, no lookup). A credential says what
// its holder may do (a role), who it is (a subject), optionally which sources it may write and on
// which node it may report, and until when. It must fit one CoAP Uri-Query option (255 bytes, RFC
// 7252 §5.10) after "access_token=", so libcoap and our client can send it: claims are short JSON
// and the network id is signed over but not carried.
import { createHash } from "node:crypto";
import { z } from "zod";
import { Identity } from "../ledger/identity.js";
import { InputError } from "../util/errors.js";
import { verifyAdminCredential } from "./admin-credential.js";

export const CREDENTIAL_ROLES = ["device", "endpoint", "operator", "admin"] as const;
export type CredentialRole = (typeof CREDENTIAL_ROLES)[number];

const PREFIX = "fcc1";
/** 255 bytes of option value minus "access_token=". */
export const MAX_CREDENTIAL_BYTES = 255 - "access_token=".length;

const CLAIMS = z.strictObject({
  r: z.enum(CREDENTIAL_ROLES),
  s: z.string().min(1).max(64),
  src: z.string().min(1).max(128).optional(),
  n: z
    .string()
    .regex(/^[0-9a-f]{8,64}$/)
    .optional(),
  /** Issued and expires, seconds since the epoch. */
  i: z.number().int().nonnegative(),
  e: z.number().int().positive().optional(),
});
type Claims = z.infer<typeof CLAIMS>;

export interface Credential {
  /** Fingerprint: the first 16 hex digits of SHA-256 of the token, safe to log and to record. */
  id: string;
  role: CredentialRole;
  subject: string;
  /** The sources a device may write: this URI exactly, or URIs under it (`scope:` or `scope/`). */
  source?: string;
  /** An operator credential may be bound to one node: a prefix of its id. */
  node?: string;
  issuedAt: number;
  /** Milliseconds since the epoch; absent: does not expire. */
  expiresAt?: number;
}

export interface IssueOptions {
  role: CredentialRole;
  subject: string;
  source?: string;
  node?: string;
  ttlMs?: number;
  now?: number;
}

const signedText = (networkId: string, body: string) => `flowchain-credential/1\n${networkId}\n${body}`;

export function credentialId(token: string): string {
  return createHash("sha256").update(token).digest("hex").slice(0, 16);
}

export function issueCredential(admin: Identity, networkId: string, o: IssueOptions): string {
  const now = o.now ?? Date.now();
  const claims: Claims = { r: o.role, s: o.subject, i: Math.floor(now / 1000) };
  if (o.source !== undefined) claims.src = o.source;
  if (o.node !== undefined) claims.n = o.node.toLowerCase();
  if (o.ttlMs !== undefined) claims.e = Math.ceil((now + o.ttlMs) / 1000);
  const parsed = CLAIMS.safeParse(claims);
  if (!parsed.success) {
    throw new InputError(
      "bad_credential",
      `credential claims: ${parsed.error.issues[0]?.message ?? "invalid"}`,
    );
  }
  const body = Buffer.from(JSON.stringify(claims)).toString("base64url");
  const sig = Buffer.from(admin.sign(signedText(networkId, body)), "hex").toString("base64url");
  const token = `${PREFIX}.${body}.${sig}`;
  if (token.length > MAX_CREDENTIAL_BYTES) {
    throw new InputError(
      "credential_too_long",
      `the credential would be ${token.length} bytes; CoAP carries at most ${MAX_CREDENTIAL_BYTES} after 'access_token=': shorten the subject or the source`,
    );
  }
  return token;
}

export type CredentialCheck =
  | { ok: true; credential: Credential }
  | { ok: false; reason: "malformed" | "bad_signature" | "expired"; message: string };

/**
 * Checks a bearer token against this network's admin key. The admin credential of data
 * directories made before client credentials existed (`fca1.`) still counts, as role admin.
 */
export function checkCredential(
  token: string,
  networkId: string,
  adminPublicKey: string,
  now = Date.now(),
): CredentialCheck {
  if (token.startsWith("fca1.")) {
    return verifyAdminCredential(token, networkId, adminPublicKey)
      ? { ok: true, credential: { id: credentialId(token), role: "admin", subject: "admin", issuedAt: 0 } }
      : {
          ok: false,
          reason: "bad_signature",
          message: "the admin token is not signed by this network's admin",
        };
  }
  const parts = token.split(".");
  if (token.length > 1024 || parts.length !== 3 || parts[0] !== PREFIX) {
    return { ok: false, reason: "malformed", message: "the bearer token is not a Flowchain credential" };
  }
  const sigHex = Buffer.from(parts[2]!, "base64url").toString("hex");
  if (sigHex.length !== 128 || !Identity.verify(adminPublicKey, signedText(networkId, parts[1]!), sigHex)) {
    return {
      ok: false,
      reason: "bad_signature",
      message: "the credential is not signed by this network's admin (altered, or of another network)",
    };
  }
  let claims: Claims;
  try {
    claims = CLAIMS.parse(JSON.parse(Buffer.from(parts[1]!, "base64url").toString("utf8")));
  } catch {
    return { ok: false, reason: "malformed", message: "the credential's claims do not parse" };
  }
  if (claims.e !== undefined && claims.e * 1000 <= now) {
    return {
      ok: false,
      reason: "expired",
      message: `the credential expired at ${new Date(claims.e * 1000).toISOString()}: ask the admin for a new one (flowchain credential issue)`,
    };
  }
  const credential: Credential = {
    id: credentialId(token),
    role: claims.r,
    subject: claims.s,
    issuedAt: claims.i * 1000,
  };
  if (claims.src !== undefined) credential.source = claims.src;
  if (claims.n !== undefined) credential.node = claims.n;
  if (claims.e !== undefined) credential.expiresAt = claims.e * 1000;
  return { ok: true, credential };
}

/** True when a device credential scoped to `scope` may write `source`. */
export function sourceInScope(scope: string, source: string): boolean {
  return source === scope || (source.startsWith(scope) && /^[:/]/.test(source.slice(scope.length)));
}

/** "30d", "24h", "90m", "45s" -> milliseconds; throws InputError otherwise. */
export function parseDuration(text: string): number {
  const m = /^(\d{1,6})([smhd])$/.exec(text.trim());
  if (!m)
    throw new InputError("bad_duration", `'${text}' is not a duration: a number and s, m, h or d (30d, 24h)`);
  const unit = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] as "s" | "m" | "h" | "d"];
  const ms = Number(m[1]) * unit;
  if (ms <= 0) throw new InputError("bad_duration", "a duration must be positive");
  return ms;
}
