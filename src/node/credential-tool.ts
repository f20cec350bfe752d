// `flowchain credential issue`: the administrator makes a client credential from the admin data
// directory (which holds admin.key); nothing is sent anywhere, members check it offline.
import { InputError } from "../util/errors.js";
import { readAdminDir } from "./admin-dir.js";
import { CREDENTIAL_ROLES, issueCredential, parseDuration, type CredentialRole } from "./credentials.js";

export interface IssueRequest {
  role: string | undefined;
  subject?: string;
  source?: string;
  node?: string;
  ttl?: string;
}

/** Roles that expire by default (30 days); the admin's own credential does not. */
const DEFAULT_TTL = "30d";

export async function issueFromDataDir(dir: string, r: IssueRequest): Promise<string> {
  if (!CREDENTIAL_ROLES.includes(r.role as CredentialRole)) {
    throw new InputError("bad_role", `--role must be one of ${CREDENTIAL_ROLES.join(", ")}`);
  }
  const role = r.role as CredentialRole;
  if (r.source !== undefined && role !== "device") {
    throw new InputError("bad_scope", "--source scopes a device credential only");
  }
  if (r.node !== undefined && (role !== "operator" || !/^[0-9a-f]{8,64}$/.test(r.node))) {
    throw new InputError(
      "bad_scope",
      "--node binds an operator credential to a node: 8 to 64 hex digits of its id",
    );
  }
  const { admin, networkId } = await readAdminDir(dir);
  const ttl = r.ttl ?? (role === "admin" ? undefined : DEFAULT_TTL);
  return issueCredential(admin, networkId, {
    role,
    subject: r.subject ?? role,
    ...(r.source !== undefined ? { source: r.source } : {}),
    ...(r.node !== undefined ? { node: r.node } : {}),
    ...(ttl !== undefined ? { ttlMs: parseDuration(ttl) } : {}),
  });
}
