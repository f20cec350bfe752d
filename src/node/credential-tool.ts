// `flowchain credential issue`: the administrator makes a client credential from the admin data
// directory (which holds admin.key); nothing is sent anywhere, members check it offline.
import { readFile } from "node:fs/promises";
import { Identity } from "../ledger/identity.js";
import { networkId, type NetworkDescriptor } from "../ledger/genesis.js";
import { InputError } from "../util/errors.js";
import { CREDENTIAL_ROLES, issueCredential, parseDuration, type CredentialRole } from "./credentials.js";
import { dataFiles } from "./data-dir.js";

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
  const files = dataFiles(dir);
  let desc: NetworkDescriptor;
  let admin: Identity;
  try {
    desc = JSON.parse(await readFile(files.network, "utf8")) as NetworkDescriptor;
    await readFile(`${dir}/${files.adminKey}`);
    admin = await Identity.loadOrCreate(dir, files.adminKey);
  } catch {
    throw new InputError(
      "not_admin",
      `${dir} holds no admin.key: run this with --data of the network's first node`,
    );
  }
  const ttl = r.ttl ?? (role === "admin" ? undefined : DEFAULT_TTL);
  return issueCredential(admin, networkId(desc), {
    role,
    subject: r.subject ?? role,
    ...(r.source !== undefined ? { source: r.source } : {}),
    ...(r.node !== undefined ? { node: r.node } : {}),
    ...(ttl !== undefined ? { ttlMs: parseDuration(ttl) } : {}),
  });
}
