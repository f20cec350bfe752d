// The admin's data directory as the admin's CLI tools read it: the network it created and the
// key that signs for it. Only the first node's directory holds admin.key.
import { readFile } from "node:fs/promises";
import { Identity } from "../ledger/identity.js";
import { networkId, type NetworkDescriptor } from "../ledger/genesis.js";
import { InputError } from "../util/errors.js";
import { dataFiles } from "./data-dir.js";

export async function readAdminDir(
  dir: string,
): Promise<{ desc: NetworkDescriptor; networkId: string; admin: Identity }> {
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
      `${dir} holds no admin.key: run this with --data of the network's first node (the admin's data directory)`,
    );
  }
  return { desc, networkId: networkId(desc), admin };
}
