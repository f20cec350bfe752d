// The credentials a network's first node writes into its data directory, and which one each
// action needs (src/wot/access.ts), for tests that call a real node's Thing.
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { ACTION_ROLES } from "../../src/wot/access.js";

const FILES = {
  device: "device-credential",
  endpoint: "endpoint-credential",
  // The first node writes no operator credential; the admin's does everything.
  operator: "admin-token",
  admin: "admin-token",
} as const;

export type Role = keyof typeof FILES;

export async function readCredential(adminDataDir: string, role: Role): Promise<string> {
  return (await readFile(join(adminDataDir, FILES[role]), "utf8")).trim();
}

/** The Authorization header `action` needs ({} for an open one), from the first node's files. */
export async function authHeaders(adminDataDir: string, action: string): Promise<Record<string, string>> {
  const role = ACTION_ROLES[action];
  if (role === undefined) return {};
  return { authorization: `Bearer ${await readCredential(adminDataDir, role)}` };
}
