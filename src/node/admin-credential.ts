// The admin credential is a bearer token signed by the network's admin key, so every member can
// check it offline with the admin public key it already trusts; no shared secret is spread around.
import { Identity } from "../ledger/identity.js";

const PREFIX = "fca1";

interface AdminClaims {
  network: string;
  role: "admin";
  issued: number;
}

export function createAdminCredential(admin: Identity, networkId: string): string {
  const claims: AdminClaims = { network: networkId, role: "admin", issued: Date.now() };
  const body = Buffer.from(JSON.stringify(claims)).toString("base64url");
  const sig = Buffer.from(admin.sign(`${PREFIX}.${body}`), "hex").toString("base64url");
  return `${PREFIX}.${body}.${sig}`;
}

export function verifyAdminCredential(
  token: string | undefined,
  networkId: string,
  adminPublicKey: string,
): boolean {
  if (typeof token !== "string" || token.length > 1024) return false;
  const parts = token.split(".");
  if (parts.length !== 3 || parts[0] !== PREFIX) return false;
  const sigHex = Buffer.from(parts[2], "base64url").toString("hex");
  if (!Identity.verify(adminPublicKey, `${PREFIX}.${parts[1]}`, sigHex)) return false;
  try {
    const claims = JSON.parse(Buffer.from(parts[1], "base64url").toString("utf8")) as AdminClaims;
    return claims.network === networkId && claims.role === "admin";
  } catch {
    return false;
  }
}
