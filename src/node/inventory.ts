// Runs an inventory across the ring: gathers every live member's branch (a page at a time, each
// request bounded by the peer timeout, so a node that dies mid-way is reported rather than waited
// on), stands in copies kept by successors for members that are down, merges, signs with the
// admin key and stores the checkpoint on every member.
import type { PeerRef } from "../chord/transport.js";
import type { Block } from "../ledger/block.js";
import type { Identity } from "../ledger/identity.js";
import {
  mergeBranches,
  signCheckpoint,
  type BranchReport,
  type Checkpoint,
  type Merged,
} from "../ledger/inventory.js";
import type { NetworkDescriptor } from "../ledger/genesis.js";
import type { InventoryResult } from "./api.js";

export const BRANCH_PAGE = 500;

export interface InventoryDeps {
  members(): Promise<PeerRef[]>;
  call(peer: PeerRef, method: string, params: unknown): Promise<unknown>;
  progress?(e: {
    phase: "members" | "branch" | "merge" | "checkpoint";
    done: number;
    total: number;
    peer?: string;
  }): void;
}

export interface BranchPage {
  blocks: Block[];
  invalid: { hash: string; reason: string }[];
  more: boolean;
}

async function fetchBranch(deps: InventoryDeps, peer: PeerRef): Promise<BranchReport> {
  const report: BranchReport = { miner: peer.id, blocks: [], invalid: [] };
  for (let from = 1; ; from += BRANCH_PAGE) {
    const page = (await deps.call(peer, "ledger.branch", { from, limit: BRANCH_PAGE })) as BranchPage;
    report.blocks.push(...page.blocks);
    report.invalid.push(...page.invalid);
    if (!page.more) return report;
  }
}

export async function runInventory(
  deps: InventoryDeps,
  admin: Identity,
  desc: NetworkDescriptor,
): Promise<{ result: InventoryResult; merged: Merged; checkpoint: Checkpoint }> {
  const members = await deps.members();
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
        const list = (await deps.call(m, "ledger.copies", {}).catch(() => [])) as string[];
        for (const miner of list) {
          if (live.has(miner)) continue;
          down.add(miner);
          const copy = (await deps
            .call(m, "ledger.copy", { miner })
            .catch(() => null)) as BranchReport | null;
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
      await deps.call(m, "ledger.checkpoint", { checkpoint }).catch(() => undefined);
      deps.progress?.({ phase: "checkpoint", done: ++stored, total: members.length, peer: m.id });
    }),
  );
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
    },
    merged,
    checkpoint,
  };
}
