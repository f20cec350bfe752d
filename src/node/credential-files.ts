// The credentials a node holding the admin key keeps in its data directory, so the first run of a
// network is one command: the Quick start's device puts with `device-credential`, its endpoint
// approves with `endpoint-credential`, and `inventory` takes `admin-token`.
import { readFile, writeFile } from "node:fs/promises";
import type { Identity } from "../ledger/identity.js";
import type { Logger } from "../log.js";
import { issueCredential } from "./credentials.js";
import { dataFiles } from "./data-dir.js";

/** What the first node writes; a year, so a forgotten quick-start network does not stay open forever. */
export const STARTER_CREDENTIAL_TTL_MS = 365 * 86_400_000;

/**
 * Writes each missing credential file (mode 0600). An admin token of the first format (`fca1.`,
 * too long for a CoAP option) is replaced by one of the current format; the old one stays valid.
 */
export async function ensureCredentialFiles(
  dir: string,
  admin: Identity,
  networkId: string,
  log: Logger,
): Promise<void> {
  const files = dataFiles(dir);
  const wanted = [
    {
      file: files.adminToken,
      make: () => issueCredential(admin, networkId, { role: "admin", subject: "admin" }),
      stale: (t: string) => t.startsWith("fca1."),
    },
    {
      file: files.deviceCredential,
      make: () =>
        issueCredential(admin, networkId, {
          role: "device",
          subject: "device",
          ttlMs: STARTER_CREDENTIAL_TTL_MS,
        }),
      stale: () => false,
    },
    {
      file: files.endpointCredential,
      make: () =>
        issueCredential(admin, networkId, {
          role: "endpoint",
          subject: "endpoint",
          ttlMs: STARTER_CREDENTIAL_TTL_MS,
        }),
      stale: () => false,
    },
  ];
  for (const w of wanted) {
    const current = (await readFile(w.file, "utf8").catch(() => "")).trim();
    if (current !== "" && !w.stale(current)) continue;
    await writeFile(w.file, w.make() + "\n", { mode: 0o600 });
    log.info("credential written", { file: w.file });
  }
}
