// Runs an inventory across the ring: gathers every live member's branch (a page at a time, each
// request bounded by the peer timeout, so a node that dies mid-way is reported rather than waited
// on), stands in copies kept by successors for members that are down, merges, signs with the
// admin key and stores the checkpoint on every member.
import type { PeerRef } from "../chord/transport.js";
import type { Identity } from "../ledger/identity.js";
import {
  mergeBranches,
  signCheckpoint,
  type BranchReport,
  type Checkpoint,
  type Merged,
} from "../ledger/inventory.js";
import type { NetworkDescriptor } from "../ledger/genesis.js";
import { NetError } from "../net/index.js";
import { InputError } from "../util/errors.js";
import type { NetworkState } from "./bootstrap.js";
import type { InventoryResult } from "./api.js";
import type { RecordDoc } from "../ledger/record.js";
import { isGrant } from "./approval.js";
import type { PeerClient } from "./protocol/peer-client.js";
import { BRANCH_PAGE, type Result } from "./protocol/table.js";

/** More blocks than any branch here will have in years (a block a second): a peer that always says "more" stops here. */
const MAX_BRANCH_BLOCKS = 50_000_000;

export interface InventoryDeps {
  members(): Promise<PeerRef[]>;
  client: Pick<PeerClient, "call" | "tryCall">;
  /** Members the admin removed: left out of the inventory altogether. */
  isRevoked?(id: string): boolean;
  /** The network's Flowcoin grants that check out, for the audit of who approved what. */
  grants?(): Promise<RecordDoc[]>;
  progress?(e: {
    phase: "members" | "branch" | "merge" | "checkpoint";
    done: number;
    total: number;
    peer?: string;
  }): void;
}

export type BranchPage = Result<"ledger.branch">;

/**
 * A member's branch, a page at a time. The caller bounds the walk: every page must move past the
 * last height seen, so a peer that always answers `more: true` cannot keep the loop going.
 */
async function fetchBranch(deps: InventoryDeps, peer: PeerRef): Promise<BranchReport> {
  const report: BranchReport = { miner: peer.id, blocks: [], invalid: [] };
  let from = 1;
  for (;;) {
    const page = await deps.client.call(peer, "ledger.branch", { from, limit: BRANCH_PAGE });
    report.blocks.push(...page.blocks);
    report.invalid.push(...page.invalid);
    if (!page.more) return report;
    const top = Math.max(...page.blocks.map((b) => b.height));
    if (page.blocks.length === 0 || top < from || top >= MAX_BRANCH_BLOCKS) {
      throw new NetError("bad_result", `ledger.branch from ${peer.id} does not move forward`);
    }
    from = top + 1;
  }
}

export async function runInventory(
  deps: InventoryDeps,
  admin: Identity,
  desc: NetworkDescriptor,
): Promise<{ result: InventoryResult; merged: Merged; checkpoint: Checkpoint }> {
  const removed = (id: string) => deps.isRevoked?.(id) ?? false;
  const members = (await deps.members()).filter((m) => !removed(m.id));
  deps.progress?.({ phase: "members", done: members.length, total: members.length });
  const reports: BranchReport[] = [];
  const down = new Set<string>();
  let done = 0;
  await Promise.all(
    members.map(async (m) => {
      try {
        reports.push(await fetchBranch(deps, m));
      } catch {
        down.add(m.id);
      }
      deps.progress?.({ phase: "branch", done: ++done, total: members.length, peer: m.id });
    }),
  );
  // Branches known only through copies belong to nodes that are not in the ring right now.
  const live = new Set(reports.map((r) => r.miner));
  const copies = new Map<string, BranchReport>();
  await Promise.all(
    members
      .filter((m) => live.has(m.id))
      .map(async (m) => {
        const list = await deps.client.tryCall(m, "ledger.copies", {}, []);
        for (const miner of list) {
          if (live.has(miner) || removed(miner)) continue;
          down.add(miner);
          const copy = await deps.client.tryCall(m, "ledger.copy", { miner }, null);
          const best = copies.get(miner);
          if (copy && (!best || copy.blocks.length > best.blocks.length)) copies.set(miner, copy);
        }
      }),
  );
  reports.push(...copies.values());
  deps.progress?.({ phase: "merge", done: reports.length, total: reports.length });
  const merged = mergeBranches(desc, reports);
  const checkpoint = signCheckpoint(admin, desc, merged, [...down]);
  let stored = 0;
  await Promise.all(
    members.map(async (m) => {
      await deps.client.tryCall(m, "ledger.checkpoint", { checkpoint }, null);
      deps.progress?.({ phase: "checkpoint", done: ++stored, total: members.length, peer: m.id });
    }),
  );
  // Each member names the chunks it holds twice; merged by key, every record listed once.
  const dupLists = await Promise.all(
    members.filter((m) => live.has(m.id)).map((m) => deps.client.tryCall(m, "ledger.duplicates", {}, [])),
  );
  const dups = new Map<string, Map<string, string>>();
  for (const d of dupLists.flat()) {
    const recs = dups.get(d.key) ?? new Map<string, string>();
    for (const r of d.records) recs.set(r.txID, r.miner);
    dups.set(d.key, recs);
  }
  const duplicates = [...dups]
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([key, recs]) => ({
      key,
      records: [...recs].sort(([a], [b]) => (a < b ? -1 : 1)).map(([txID, miner]) => ({ txID, miner })),
    }));
  const branches = reports.map((r) => {
    const head = merged.heads.find((h) => h.miner === r.miner)!;
    return {
      miner: r.miner,
      blocks: merged.blocks.filter((b) => b.miner === r.miner).length,
      head: head.head,
    };
  });
  return {
    result: {
      checkpoint: checkpoint as unknown as Record<string, unknown>,
      branches,
      invalidBlocks: merged.invalid,
      unreachable: [...down].sort(),
      duplicates,
      approvals: deps.grants ? approvalAudit(await deps.grants()) : [],
    },
    merged,
    checkpoint,
  };
}

/** The `inventory` action: only the node that holds the admin key signs checkpoints. */
export async function inventoryOnAdminNode(
  network: NetworkState,
  deps: InventoryDeps,
): Promise<InventoryResult> {
  if (!network.admin) {
    throw new InputError(
      "not_admin_node",
      "this node does not hold the admin key: run inventory on the node that created the network",
    );
  }
  return (await runInventory(deps, network.admin, network.descriptor)).result;
}

/**
 * Who paid whom: the grants each endpoint credential approved, by the miner paid. Grants recorded
 * before approvals named their endpoint are listed under credential null.
 */
export function approvalAudit(grants: RecordDoc[]): InventoryResult["approvals"] {
  const by = new Map<
    string,
    { credential: string | null; subject: string | null; to: Map<string, number> }
  >();
  for (const g of grants) {
    if (!isGrant(g)) continue;
    const who = g.value.approvedBy;
    const id = who?.credential ?? "";
    const row = by.get(id) ?? {
      credential: who?.credential ?? null,
      subject: who?.subject ?? null,
      to: new Map(),
    };
    row.to.set(g.value.to, (row.to.get(g.value.to) ?? 0) + 1);
    by.set(id, row);
  }
  return [...by.values()]
    .sort((a, b) => ((a.credential ?? "") < (b.credential ?? "") ? -1 : 1))
    .map((r) => ({
      credential: r.credential,
      subject: r.subject,
      grants: [...r.to.values()].reduce((x, y) => x + y, 0),
      to: [...r.to].sort(([a], [b]) => (a < b ? -1 : 1)).map(([miner, grants]) => ({ miner, grants })),
    }));
}
