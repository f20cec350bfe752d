// Where a node keeps its state. Everything a restarted node needs to rejoin with the same id and
// the same data lives here; nothing else is read from the environment on restart.
import { join } from "node:path";

export const dataFiles = (dir: string) => ({
  nodeKey: "node.key",
  adminKey: "admin.key",
  network: join(dir, "network.json"),
  proof: join(dir, "membership-token"),
  joinToken: join(dir, "join-token"),
  /** The admin's list of the join tokens it made (ids and times, never the tokens). */
  joinTokens: join(dir, "join-tokens.json"),
  adminToken: join(dir, "admin-token"),
  deviceCredential: join(dir, "device-credential"),
  endpointCredential: join(dir, "endpoint-credential"),
  ledger: join(dir, "ledger"),
  peers: join(dir, "peers.json"),
  revoked: join(dir, "revoked.json"),
  addr: join(dir, "node-addr"),
  branchCopies: join(dir, "branch-copies"),
  checkpoints: join(dir, "checkpoints"),
});
