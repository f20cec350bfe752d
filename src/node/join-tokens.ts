// Join tokens as the admin manages them (`flowchain token create|list`): each is made with the
// admin key, written to a file only its owner can read, and listed in the admin's data directory
// by id and times, never by its text. They expire like kubeadm's bootstrap tokens; a member's
// membership token never does (net/membership.ts).
import { randomBytes } from "node:crypto";
import { readFile, rename, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { z } from "zod";
import type { Identity } from "../ledger/identity.js";
import { createJoinToken, isJoinToken, parseJoinToken, tokenId } from "../net/membership.js";
import { InputError } from "../util/errors.js";
import { readAdminDir } from "./admin-dir.js";
import { parseDuration } from "./credentials.js";
import { dataFiles } from "./data-dir.js";

const HOUR_MS = 3_600_000;
/** kubeadm's default: a token left lying around is useless by tomorrow. */
export const DEFAULT_JOIN_TTL_MS = 24 * HOUR_MS;
/** A join token is for joining soon; anything longer than a year is a membership token in disguise. */
export const MAX_JOIN_TTL_MS = 365 * 24 * HOUR_MS;
/** Entries kept in join-tokens.json; the oldest go first. */
const MAX_LISTED = 1000;

/** A join token's `--ttl`: "90s", "30m", "24h", "7d", at most 365d. Throws InputError naming the form. */
export function parseJoinTtl(text: string): number {
  let ms = NaN;
  try {
    ms = parseDuration(text);
  } catch {
    // Named below, with the bound a credential's duration does not have.
  }
  if (!(ms > 0) || ms > MAX_JOIN_TTL_MS) {
    throw new InputError(
      "bad_ttl",
      `--ttl must be a whole number and a unit, s, m, h or d (e.g. 30m, 24h, 7d), at most 365d; got '${text}'`,
    );
  }
  return ms;
}

const listed = z.object({
  id: z.string(),
  created: z.number().int(),
  expires: z.number().int(),
  file: z.string().optional(),
});
export type ListedToken = z.infer<typeof listed>;

export async function listJoinTokens(dir: string): Promise<ListedToken[]> {
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(dataFiles(dir).joinTokens, "utf8"));
  } catch {
    return [];
  }
  const list = z.array(listed).safeParse(raw);
  return list.success ? list.data : [];
}

/** Written beside, then renamed over: a reader never sees half a token, and the mode is 0600 from the start. */
async function writePrivate(file: string, text: string): Promise<void> {
  const tmp = join(dirname(file), `.${randomBytes(6).toString("hex")}.tmp`);
  await writeFile(tmp, text, { mode: 0o600 });
  await rename(tmp, file);
}

/**
 * Makes a join token with `admin`, writes it to `file` (0600) and lists it in `dir`. The token
 * itself is returned only to the caller that writes it: nothing prints it.
 */
export async function writeJoinToken(
  dir: string,
  admin: Identity,
  network: { networkId: string; name: string },
  opts: { file: string; ttlMs: number; now?: number },
): Promise<ListedToken> {
  const token = createJoinToken(admin, { ...network, ttlMs: opts.ttlMs, now: opts.now });
  const { issued, expires } = parseJoinToken(token).payload;
  await writePrivate(opts.file, token + "\n");
  const entry: ListedToken = { id: tokenId(token), created: issued, expires, file: opts.file };
  const list = [...(await listJoinTokens(dir)), entry].slice(-MAX_LISTED);
  await writePrivate(dataFiles(dir).joinTokens, JSON.stringify(list, null, 1) + "\n");
  return entry;
}

/** `flowchain token create`: a join token of the network administered from `dir`, written to `out`. */
export async function createTokenFile(
  dir: string,
  opts: { ttlMs: number; out?: string },
): Promise<ListedToken & { file: string }> {
  const { desc, networkId, admin } = await readAdminDir(dir);
  const file = opts.out ?? dataFiles(dir).joinToken;
  const entry = await writeJoinToken(dir, admin, { networkId, name: desc.name }, { file, ttlMs: opts.ttlMs });
  return { ...entry, file };
}

/** `flowchain token list`: what the admin directory made, with whether each has expired. */
export async function tokenTable(dir: string, now = Date.now()): Promise<string> {
  await readAdminDir(dir);
  const rows = (await listJoinTokens(dir)).map((t) =>
    [
      t.id,
      new Date(t.created).toISOString(),
      new Date(t.expires).toISOString(),
      t.expires <= now ? "expired" : "valid  ",
      t.file ?? "",
    ].join("  "),
  );
  const head = ["ID".padEnd(16), "CREATED".padEnd(24), "EXPIRES".padEnd(24), "STATE  ", "FILE"].join("  ");
  return [head, ...rows].join("\n") + "\n";
}

/**
 * The join token in a data directory's join-token file, as a start prints it: absent (a member's
 * directory), valid until `expires`, or expired. A token of the old kind (fc1, the membership
 * token itself) counts as absent: the admin's node replaces it at start (bootstrap.ts).
 */
export async function joinTokenState(
  dir: string,
  now = Date.now(),
): Promise<{ file: string; expires: number; expired: boolean } | undefined> {
  const file = dataFiles(dir).joinToken;
  let text: string;
  try {
    text = (await readFile(file, "utf8")).trim();
  } catch {
    return undefined;
  }
  if (!isJoinToken(text)) return undefined;
  try {
    const { expires } = parseJoinToken(text).payload;
    return { file, expires, expired: expires <= now };
  } catch {
    return undefined;
  }
}
