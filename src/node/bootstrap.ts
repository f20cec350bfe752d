// Decides which network a data directory belongs to: an existing one (restart), one named by a
// join token (first join), or a new one this node creates and administers.
import { mkdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { Identity } from "../ledger/identity.js";
import { networkId, type NetworkDescriptor } from "../ledger/genesis.js";
import { createJoinToken, parseJoinToken, verifyJoinToken } from "../net/membership.js";
import { InputError } from "../util/errors.js";
import type { Logger } from "../log.js";
import { ensureCredentialFiles } from "./credential-files.js";
import { dataFiles } from "./data-dir.js";

export interface NetworkState {
  descriptor: NetworkDescriptor;
  networkId: string;
  /** This node's membership proof: the admin-signed join token it was admitted with. */
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
  "copy the token again from the first node's DATA/join-token (or pass that file with --token-file) and start again";

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
    if (!proof) throw new InputError("corrupt_data_dir", `${files.proof} is missing`);
    if (opts.token && parseJoinToken(opts.token).payload.network !== id) {
      throw new InputError(
        "wrong_network",
        `this data directory belongs to network ${id.slice(0, 12)}…, not the token's: start without --token, or use another --data directory`,
      );
    }
    const adminKey = await readIfExists(`${dir}/${files.adminKey}`);
    const admin = adminKey === undefined ? undefined : await Identity.loadOrCreate(dir, files.adminKey);
    if (admin) await ensureCredentialFiles(dir, admin, id, log);
    return { descriptor, networkId: id, proof, admin, created: false, firstJoin: false };
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
    // Checked before anything is written: an altered or cut token leaves the directory untouched.
    if (
      networkId(descriptor) !== claims.network ||
      !verifyJoinToken(token, { networkId: claims.network, adminPublicKey: claims.adminPublicKey })
    ) {
      throw new InputError(
        "bad_token",
        `the join token's signature does not verify (altered or cut): ${TOKEN_HINT}`,
      );
    }
    await writeFile(files.network, JSON.stringify(descriptor, null, 2) + "\n", { mode: 0o600 });
    await writeFile(files.proof, token + "\n", { mode: 0o600 });
    return { descriptor, networkId: claims.network, proof: token, created: false, firstJoin: true };
  }

  const admin = await Identity.loadOrCreate(dir, files.adminKey);
  const descriptor: NetworkDescriptor = {
    name: opts.name ?? "flowchain",
    adminPublicKey: admin.publicKeyHex,
  };
  const id = networkId(descriptor);
  const token = createJoinToken(admin, { networkId: id, name: descriptor.name });
  await writeFile(files.network, JSON.stringify(descriptor, null, 2) + "\n", { mode: 0o600 });
  await writeFile(files.proof, token + "\n", { mode: 0o600 });
  await writeFile(files.joinToken, token + "\n", { mode: 0o600 });
  await ensureCredentialFiles(dir, admin, id, log);
  log.info("network created", { network: id, name: descriptor.name });
  return { descriptor, networkId: id, proof: token, admin, created: true, firstJoin: false };
}

function parsedOrHint(token: string): ReturnType<typeof parseJoinToken> {
  try {
    return parseJoinToken(token);
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
