// `flowchain inventory` and `flowchain member remove`: the administrator acts from the admin data
// directory (which holds admin.key), as an admitted tool that does not enter the ring, so it works
// whether or not the admin's own node is up and needs no lock on its LevelDB.
import { readFile } from "node:fs/promises";
import { createKeyPairSigner, PeerNetwork } from "../net/index.js";
import { networkId } from "../ledger/genesis.js";
import { InputError } from "../util/errors.js";
import { readAdminDir } from "./admin-dir.js";
import { dataFiles } from "./data-dir.js";
import { runInventory, type InventoryDeps } from "./inventory.js";
import { walkRing } from "./members.js";
import { PeerClient } from "./protocol/peer-client.js";
import type { PeerRef } from "../chord/transport.js";
import { HEX64 } from "../util/hex.js";
import { createRevocation, Revocations } from "./revocations.js";

/**
 * The admin's tool: the admin key and network from the admin data directory, and a peer client
 * admitted with its membership token, connected to `via` (default: the admin node's own address).
 */
export async function openAdminTool(dir: string, via: string | undefined, insecurePeers = false) {
  const files = dataFiles(dir);
  const { desc, admin } = await readAdminDir(dir);
  const proof = (await readFile(files.proof, "utf8")).trim();
  const start = via ?? (await readFile(files.addr, "utf8").catch(() => "")).trim();
  if (!start) throw new InputError("no_peer", "give --via HOST:PORT of any member");
  const net = new PeerNetwork({
    signer: createKeyPairSigner(),
    networkId: networkId(desc),
    adminPublicKey: desc.adminPublicKey,
    proof,
    host: "127.0.0.1",
    port: 0,
    requestTimeoutMs: 5000,
    // The network's kind of links: TLS unless its nodes run --insecure-peers (benchmarks only).
    tls: !insecurePeers,
  });
  await net.listen();
  // A tool outside the ring: it serves nothing, so it has no handlers of its own to call.
  const client = new PeerClient({
    transport: net,
    selfId: "",
    selfAddr: () => net.addr,
    local: () => new Map(),
  });
  try {
    const info = await client.call({ addr: start }, "node.info", {});
    return { desc, admin, client, info, close: () => net.close() };
  } catch (err) {
    await net.close();
    throw err;
  }
}

export async function inventoryFromDataDir(
  dir: string,
  via: string | undefined,
  progress: InventoryDeps["progress"],
  insecurePeers = false,
) {
  const tool = await openAdminTool(dir, via, insecurePeers);
  const { desc, admin, client, info } = tool;
  try {
    const list = (p: PeerRef) => client.successorList(p);
    const revoked = new Revocations(dataFiles(dir).revoked, {
      networkId: networkId(desc),
      adminPublicKey: desc.adminPublicKey,
    });
    await revoked.load();
    const deps: InventoryDeps = {
      members: async () => walkRing({ id: info.id, addr: info.addr }, await list(info), list),
      client,
      isRevoked: (id) => revoked.has(id),
      progress,
    };
    return { desc, ...(await runInventory(deps, admin, desc)) };
  } finally {
    await tool.close();
  }
}

/** `flowchain member remove ID`: the admin signs the removal; the member it reaches spreads it. */
export async function removeMember(
  dir: string,
  via: string | undefined,
  member: string,
  insecurePeers = false,
) {
  if (!HEX64.test(member)) throw new InputError("bad_member", "a member id is 64 lowercase hex characters");
  const tool = await openAdminTool(dir, via, insecurePeers);
  try {
    const revocation = createRevocation(tool.admin, networkId(tool.desc), member);
    return await tool.client.call(tool.info, "member.revoke", { revocation });
  } finally {
    await tool.close();
  }
}
