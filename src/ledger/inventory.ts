// Inventory (paper 3.1): the administrator merges the valid Virtual Blocks of every branch into
// one ledger. Pure: it takes the branches as reported, checks each on its own (hash, signature,
// miner, link to the previous block, back to the network's genesis), leaves invalid blocks out and
// lists them, orders the rest deterministically, and commits to every branch head with a Merkle
// root that the admin key signs (the checkpoint).
import { verifyBlock, type Block } from "./block.js";
import { canonicalJson } from "./canonical.js";
import { LEDGER_CONTEXT_URL } from "./context.js";
import { genesisBlock, networkId, type NetworkDescriptor } from "./genesis.js";
import { Identity, nodeIdOf } from "./identity.js";
import { MERKLE_VERSION, merkleRoot } from "./merkle.js";

export interface BranchReport {
  miner: string;
  blocks: Block[];
  /** Blocks the miner itself retired (invalid conditions), by hash. */
  invalid: { hash: string; reason: string }[];
}

export interface InvalidBlock {
  miner: string;
  height: number;
  hash: string;
  reason: string;
}

export interface Checkpoint {
  "@context": string;
  "@type": "Checkpoint";
  network: string;
  time: number;
  heads: { miner: string; height: number; head: string }[];
  /** Merkle root over the branch heads' hashes, in miner order. */
  root: string;
  /** Merkle version of root (merkle.ts); absent in checkpoints signed before version 2. */
  merkle?: typeof MERKLE_VERSION;
  blocks: number;
  invalid: InvalidBlock[];
  unreachable: string[];
  adminKey: string;
  signature: string;
}

export interface Merged {
  blocks: Block[];
  heads: Checkpoint["heads"];
  invalid: InvalidBlock[];
}

/** Checks one branch alone; returns its valid blocks and what was left out. */
export function checkBranch(
  genesis: Block,
  report: BranchReport,
): { valid: Block[]; invalid: InvalidBlock[]; head: Block } {
  const retired = new Map(report.invalid.map((i) => [i.hash, i.reason]));
  const valid: Block[] = [];
  const invalid: InvalidBlock[] = [];
  let prev = genesis;
  const sorted = [...report.blocks].sort((a, b) => a.height - b.height);
  for (const [i, b] of sorted.entries()) {
    const bad =
      verifyBlock(b) ??
      (b.miner !== report.miner ? "mined by another node" : null) ??
      (b.height !== prev.height + 1 ? `height ${b.height} follows ${prev.height}` : null) ??
      (b.prev !== prev.hash ? "does not link to the previous block" : null);
    if (bad !== null) {
      // A broken link cuts the branch: nothing after it can be tied back to genesis.
      for (const rest of sorted.slice(i)) {
        invalid.push({
          miner: report.miner,
          height: rest.height,
          hash: rest.hash,
          reason: rest === b ? bad : "after a broken link",
        });
      }
      break;
    }
    const reason = retired.get(b.hash);
    if (reason !== undefined) invalid.push({ miner: report.miner, height: b.height, hash: b.hash, reason });
    else valid.push(b);
    prev = b;
  }
  return { valid, invalid, head: prev };
}

export function mergeBranches(desc: NetworkDescriptor, reports: BranchReport[]): Merged {
  const genesis = genesisBlock(desc);
  const blocks: Block[] = [];
  const heads: Checkpoint["heads"] = [];
  const invalid: InvalidBlock[] = [];
  for (const r of [...reports].sort((a, b) => (a.miner < b.miner ? -1 : 1))) {
    const c = checkBranch(genesis, r);
    blocks.push(...c.valid);
    invalid.push(...c.invalid);
    heads.push({ miner: r.miner, height: c.head.height, head: c.head.hash });
  }
  // Deterministic: by time, then miner, then height, whatever order the branches arrived in.
  blocks.sort(
    (a, b) =>
      a.timestamp - b.timestamp || (a.miner < b.miner ? -1 : a.miner > b.miner ? 1 : a.height - b.height),
  );
  return { blocks, heads, invalid };
}

function signingText(c: Omit<Checkpoint, "signature">): string {
  return "flowchain/checkpoint/v1\n" + canonicalJson(c);
}

export function signCheckpoint(
  admin: Identity,
  desc: NetworkDescriptor,
  merged: Merged,
  unreachable: string[],
  time = Date.now(),
): Checkpoint {
  const body: Omit<Checkpoint, "signature"> = {
    "@context": LEDGER_CONTEXT_URL,
    "@type": "Checkpoint",
    network: networkId(desc),
    time,
    heads: merged.heads,
    root: merkleRoot(merged.heads.map((h) => h.head)),
    merkle: MERKLE_VERSION,
    blocks: merged.blocks.length,
    invalid: merged.invalid,
    unreachable: [...unreachable].sort(),
    adminKey: admin.publicKeyHex,
  };
  return { ...body, signature: admin.sign(signingText(body)) };
}

/** Null when the checkpoint is signed by this network's admin and commits to its own heads. */
export function verifyCheckpoint(c: Checkpoint, desc: NetworkDescriptor): string | null {
  if (typeof c !== "object" || c === null || c["@type"] !== "Checkpoint") return "not a checkpoint";
  if (c.network !== networkId(desc)) return "checkpoint of another network";
  if (c.adminKey !== desc.adminPublicKey || nodeIdOf(c.adminKey) !== nodeIdOf(desc.adminPublicKey)) {
    return "not signed by this network's admin key";
  }
  if (c.merkle !== undefined && c.merkle !== MERKLE_VERSION) return "unknown merkle version";
  if (
    !Array.isArray(c.heads) ||
    c.root !==
      merkleRoot(
        c.heads.map((h) => h.head),
        c.merkle ?? 1,
      )
  )
    return "root does not match the heads";
  const { signature, ...body } = c;
  if (!Identity.verify(desc.adminPublicKey, signingText(body), signature)) return "bad admin signature";
  return null;
}

/**
 * Checks a merged ledger offline: its checkpoint, then every block, and that the valid blocks of
 * each branch lead to exactly the head the checkpoint names.
 */
export function verifyMerged(
  desc: NetworkDescriptor,
  checkpoint: Checkpoint,
  blocks: Block[],
): string | null {
  const bad = verifyCheckpoint(checkpoint, desc);
  if (bad !== null) return `checkpoint: ${bad}`;
  if (blocks.length !== checkpoint.blocks)
    return `checkpoint counts ${checkpoint.blocks} blocks, file has ${blocks.length}`;
  const invalid = new Set(checkpoint.invalid.map((i) => i.hash));
  const byMiner = new Map<string, Block[]>();
  for (const b of blocks) {
    const why = verifyBlock(b);
    if (why !== null) return `block ${b.miner?.slice?.(0, 12)}@${b.height}: ${why}`;
    if (invalid.has(b.hash)) return `block ${b.miner.slice(0, 12)}@${b.height} is listed invalid but merged`;
    byMiner.set(b.miner, [...(byMiner.get(b.miner) ?? []), b]);
  }
  for (const h of checkpoint.heads) {
    const own = (byMiner.get(h.miner) ?? []).sort((a, b) => a.height - b.height);
    const last = own[own.length - 1];
    // The head may be an invalidated block (left out): then the last merged block precedes it.
    if (last && last.height > h.height)
      return `branch ${h.miner.slice(0, 12)} goes past its checkpointed head`;
    if (last && last.height === h.height && last.hash !== h.head)
      return `branch ${h.miner.slice(0, 12)} head differs from the checkpoint`;
  }
  return null;
}
