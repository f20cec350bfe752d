// Decides which network a data directory belongs to: an existing one (restart), one named by a
// join token (first join), or a new one this node creates and administers.
import { mkdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { Identity } from "../ledger/identity.js";
import { networkId, type NetworkDescriptor } from "../ledger/genesis.js";
import {
  checkJoinToken,
  createMembershipToken,
  isJoinToken,
  parseAnyToken,
  verifyMembershipToken,
} from "../net/membership.js";
import { InputError } from "../util/errors.js";
import type { Logger } from "../log.js";
import { ensureCredentialFiles } from "./credential-files.js";
import { dataFiles } from "./data-dir.js";
import { DEFAULT_JOIN_TTL_MS, writeJoinToken } from "./join-tokens.js";

export interface NetworkState {
  descriptor: NetworkDescriptor;
  networkId: string;
  /**
   * What this node shows in handshakes: its membership token (DATA/membership-token), or, during
   * a first join with a join token, that join token until the node it joins through hands it the
   * membership token (membership-exchange.ts), which is only then written.
   */
  proof: string;
  /** Present only on the node that created the network. */
  admin?: Identity;
  created: boolean;
  /**
   * True when this start wrote the network files from a join token: until the first join
   * succeeds, the directory holds nothing worth keeping, and a failed join removes it all
   * (see forgetFailedJoin) so that a wrong token never ties the directory to a network.
   */
  firstJoin: boolean;
}

/** The fix a user needs when a join token is refused, named in every such error. */
export const TOKEN_HINT =
  "on the first node make a new join token with `flowchain token create --data DATA` (it writes DATA/join-token), pass that file with --token-file and start again";

/** What the user reads when a join token is refused because it expired. */
export const EXPIRED_HINT =
  "the join token has expired (join tokens last 24 h unless made with another --ttl): " + TOKEN_HINT;

async function readIfExists(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
}

export async function prepareNetwork(
  dir: string,
  opts: { token?: string; name?: string; joining: boolean },
  log: Logger,
): Promise<NetworkState> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await warnIfOpen(dir, log);
  const files = dataFiles(dir);
  const saved = await readIfExists(files.network);
  if (saved !== undefined) {
    const descriptor = JSON.parse(saved) as NetworkDescriptor;
    const id = networkId(descriptor);
    const proof = (await readIfExists(files.proof))?.trim();
    if (opts.token && parseAnyToken(opts.token).payload.network !== id) {
      throw new InputError(
        "wrong_network",
        `this data directory belongs to network ${id.slice(0, 12)}…, not the token's: start without --token, or use another --data directory`,
      );
    }
    const adminKey = await readIfExists(`${dir}/${files.adminKey}`);
    const admin = adminKey === undefined ? undefined : await Identity.loadOrCreate(dir, files.adminKey);
    // A first join that stopped between writing network.json and the membership token (killed
    // while exchanging the join token) is still a first join: it starts over below.
    if (!proof && !(opts.joining && opts.token)) {
      throw new InputError(
        "corrupt_data_dir",
        `${files.proof} is missing: the first join did not finish; start again with --join and --token-file`,
      );
    }
    if (proof) {
      if (admin) {
        await ensureCredentialFiles(dir, admin, id, log);
        await replaceLegacyJoinToken(dir, admin, { networkId: id, name: descriptor.name }, log);
      }
      return { descriptor, networkId: id, proof, admin, created: false, firstJoin: false };
    }
  }

  if (opts.joining) {
    if (!opts.token)
      throw new InputError(
        "token_required",
        "--join needs a join token: --token-file DATA/join-token of the first node",
      );
    const token = opts.token.trim();
    const claims = parsedOrHint(token).payload;
    const descriptor: NetworkDescriptor = { name: claims.name, adminPublicKey: claims.adminPublicKey };
    const expected = { networkId: claims.network, adminPublicKey: claims.adminPublicKey };
    // Checked before anything is written: an altered, cut or expired token leaves the directory untouched.
    const why =
      networkId(descriptor) !== claims.network
        ? "bad_token"
        : isJoinToken(token)
          ? checkJoinToken(token, expected)
          : verifyMembershipToken(token, expected)
            ? null
            : "bad_token";
    if (why === "expired_join_token") throw new InputError(why, EXPIRED_HINT);
    if (why) {
      throw new InputError(
        "bad_token",
        `the join token's signature does not verify (altered or cut): ${TOKEN_HINT}`,
      );
    }
    await writeFile(files.network, JSON.stringify(descriptor, null, 2) + "\n", { mode: 0o600 });
    // A token of the old kind (fc1) is itself the membership token; a join token is not kept.
    if (!isJoinToken(token)) await writeFile(files.proof, token + "\n", { mode: 0o600 });
    return { descriptor, networkId: claims.network, proof: token, created: false, firstJoin: true };
  }

  const admin = await Identity.loadOrCreate(dir, files.adminKey);
  const descriptor: NetworkDescriptor = {
    name: opts.name ?? "flowchain",
    adminPublicKey: admin.publicKeyHex,
  };
  const id = networkId(descriptor);
  const membership = createMembershipToken(admin, { networkId: id, name: descriptor.name });
  await writeFile(files.network, JSON.stringify(descriptor, null, 2) + "\n", { mode: 0o600 });
  await writeFile(files.proof, membership + "\n", { mode: 0o600 });
  await writeJoinToken(
    dir,
    admin,
    { networkId: id, name: descriptor.name },
    { file: files.joinToken, ttlMs: DEFAULT_JOIN_TTL_MS },
  );
  await ensureCredentialFiles(dir, admin, id, log);
  log.info("network created", { network: id, name: descriptor.name });
  return { descriptor, networkId: id, proof: membership, admin, created: true, firstJoin: false };
}

/**
 * Before join tokens expired, the first node wrote its membership token to join-token too. That
 * file is what users copy around, so the admin's node replaces it with a join token that expires;
 * the old text still admits (it is the network's membership token, which members keep).
 */
async function replaceLegacyJoinToken(
  dir: string,
  admin: Identity,
  network: { networkId: string; name: string },
  log: Logger,
): Promise<void> {
  const file = dataFiles(dir).joinToken;
  const text = (await readIfExists(file))?.trim();
  if (text === undefined || isJoinToken(text)) return;
  await writeJoinToken(dir, admin, network, { file, ttlMs: DEFAULT_JOIN_TTL_MS });
  log.info("join-token replaced by a join token that expires in 24 h", { file });
}

function parsedOrHint(token: string): ReturnType<typeof parseAnyToken> {
  try {
    return parseAnyToken(token);
  } catch (err) {
    throw new InputError("bad_token", `${(err as Error).message}: ${TOKEN_HINT}`);
  }
}

/**
 * Undoes a first start whose join failed: the network files and the (empty) ledger it created
 * go, so the next start with the right token begins afresh. The node key stays: it is this
 * node's identity, not the network's.
 */
export async function forgetFailedJoin(dir: string): Promise<void> {
  const files = dataFiles(dir);
  for (const path of [
    files.network,
    files.proof,
    files.peers,
    files.addr,
    files.ledger,
    files.branchCopies,
  ]) {
    await rm(path, { recursive: true, force: true });
  }
}

/** A data directory holds the node's private key: others must not read it. */
async function warnIfOpen(dir: string, log: Logger): Promise<void> {
  const { mode } = await stat(dir);
  if ((mode & 0o077) !== 0) {
    const text = `data directory ${dir} is open to other users (mode ${(mode & 0o777).toString(8)}): chmod 700 ${dir}`;
    log.warn(text);
  }
}
