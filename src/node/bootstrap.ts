// Decides which network a data directory belongs to: an existing one (restart), one named by a
// join token (first join), or a new one this node creates and administers.
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { Identity } from "../ledger/identity.js";
import { networkId, type NetworkDescriptor } from "../ledger/genesis.js";
import { createJoinToken, parseJoinToken } from "../net/membership.js";
import { InputError } from "../util/errors.js";
import type { Logger } from "../log.js";
import { createAdminCredential } from "./admin-credential.js";
import { dataFiles } from "./data-dir.js";

export interface NetworkState {
  descriptor: NetworkDescriptor;
  networkId: string;
  /** This node's membership proof: the admin-signed join token it was admitted with. */
  proof: string;
  /** Present only on the node that created the network. */
  admin?: Identity;
  created: boolean;
}

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
  const files = dataFiles(dir);
  const saved = await readIfExists(files.network);
  if (saved !== undefined) {
    const descriptor = JSON.parse(saved) as NetworkDescriptor;
    const id = networkId(descriptor);
    const proof = (await readIfExists(files.proof))?.trim();
    if (!proof) throw new InputError("corrupt_data_dir", `${files.proof} is missing`);
    if (opts.token && parseJoinToken(opts.token).payload.network !== id) {
      throw new InputError("wrong_network", "this data directory belongs to another network than the token");
    }
    const adminKey = await readIfExists(`${dir}/${files.adminKey}`);
    const admin = adminKey === undefined ? undefined : await Identity.loadOrCreate(dir, files.adminKey);
    return { descriptor, networkId: id, proof, admin, created: false };
  }

  if (opts.joining) {
    if (!opts.token)
      throw new InputError("token_required", "--join needs --token TOKEN (see DATA/join-token)");
    const claims = parseJoinToken(opts.token).payload;
    const descriptor: NetworkDescriptor = { name: claims.name, adminPublicKey: claims.adminPublicKey };
    if (networkId(descriptor) !== claims.network) {
      throw new InputError("bad_token", "join token names a network that does not match its descriptor");
    }
    await writeFile(files.network, JSON.stringify(descriptor, null, 2) + "\n", { mode: 0o600 });
    await writeFile(files.proof, opts.token + "\n", { mode: 0o600 });
    return { descriptor, networkId: claims.network, proof: opts.token, created: false };
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
  await writeFile(files.adminToken, createAdminCredential(admin, id) + "\n", { mode: 0o600 });
  log.info("network created", { network: id, name: descriptor.name });
  return { descriptor, networkId: id, proof: token, admin, created: true };
}
