// The first admin credential format (`fca1.`), which data directories made before client
// credentials (credentials.ts) still hold: checked, never issued any more. At 247 bytes it is too
// long for a CoAP option, which is why the current format replaced it.
import { Identity } from "../ledger/identity.js";

const PREFIX = "fca1";

interface AdminClaims {
  network: string;
  role: "admin";
  issued: number;
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
