// What the peer handlers reach into: the node's modules, passed in so each handler file can be
// built alone in a test.
import type { ChordNode } from "../../chord/node.js";
import type { Ledger } from "../../ledger/ledger.js";
import type { BranchSummary, FlowchainNodeApi } from "../api.js";
import type { BranchCopies } from "../branch-copies.js";
import type { BranchSync } from "../branch-sync.js";
import type { CheckpointStore } from "../checkpoints.js";
import type { Flowcoin } from "../flowcoin.js";
import type { Placement } from "../placement.js";
import type { Proofs } from "../proofs.js";
import type { RingQuery } from "../ring-query.js";
import type { Router } from "../router.js";
import type { ThingDirectory } from "../thing-directory.js";
import type { Revocation } from "../revocations.js";

export interface NodeParts {
  api: Pick<FlowchainNodeApi, "id" | "put" | "ring" | "balance" | "inventory" | "isAdmin"> & {
    branch(): Promise<BranchSummary>;
  };
  addr: () => string;
  chord: ChordNode;
  ledger: Ledger;
  router: Router;
  ringQuery: RingQuery;
  placement: Placement;
  flowcoin: Flowcoin;
  branchSync: BranchSync;
  copies: BranchCopies;
  checkpoints: CheckpointStore;
  proofs: Proofs;
  things: ThingDirectory;
  /** Checks, keeps and spreads an admin-signed removal of a member. */
  revoke(r: Revocation): Promise<{ new: boolean }>;
  /** This node's membership token (never a join token: a joiner asks only once it holds the token). */
  membershipProof(): string;
  /** Removed members: their branch copies are no longer handed out. */
  isRevoked(id: string): boolean;
}
