// Copies of the branches of this node's predecessors: each node sends every block it mines (and
// every block it retires) to its successors, so an inventory can stand in for a node that is down.
// Append-only NDJSON per miner: blocks are small, rare (seconds apart) and never rewritten.
import { appendFile, mkdir, readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { verifyBlock, type Block } from "../ledger/block.js";
import type { BranchReport } from "../ledger/inventory.js";
import { Identity } from "../ledger/identity.js";
import { AuthError, InputError } from "../util/errors.js";
import { HEX64 } from "../util/hex.js";

type Entry = { block: Block } | { invalid: { hash: string; reason: string } };

/** What this node knows of one miner's copy: loaded from its file once, then kept up to date. */
interface CopyIndex {
  blocks: Map<string, Block>;
  heights: Set<number>;
  invalid: Map<string, { hash: string; reason: string }>;
}

/** What a miner signs to retire one of its blocks (see addInvalid). */
export function invalidNoticeText(i: { hash: string; reason: string }): string {
  return `flowchain-invalid.${i.hash}.${i.reason}`;
}

export class BranchCopies {
  private readonly index = new Map<string, Promise<CopyIndex>>();

  constructor(private readonly dir: string) {}

  /**
   * A block its miner sent (shape parsed by the protocol table; hash, work and signature checked
   * here). One block per height: a miner's branch is a line, so a second block at a height it
   * already has is refused, which bounds a copy by its miner's height.
   */
  async addBlock(from: string, b: Block): Promise<void> {
    const bad = verifyBlock(b);
    if (bad !== null) throw new InputError("bad_block", `block copy rejected: ${bad}`);
    // Only the miner itself may hand out copies of its branch.
    if (b.miner !== from) throw new InputError("bad_block", "a node sends copies of its own blocks only");
    const idx = await this.load(from);
    if (idx.blocks.has(b.hash)) return;
    if (idx.heights.has(b.height)) {
      throw new InputError("bad_block", `block copy rejected: height ${b.height} is taken by another block`);
    }
    idx.blocks.set(b.hash, b);
    idx.heights.add(b.height);
    await this.append(from, { block: b });
  }

  /**
   * A miner retires one of its blocks. Only a block this copy holds can be retired, and only once,
   * so the notes of a copy are bounded by its blocks; a note sent on its own carries the miner's
   * signature (over invalidNoticeText), checked with the key in that block.
   */
  async addInvalid(from: string, i: { hash: string; reason: string }, signature?: string): Promise<void> {
    const idx = await this.load(from);
    const block = idx.blocks.get(i.hash);
    if (!block) throw new InputError("unknown_block", "an invalidation names a block this copy holds");
    const note = { hash: i.hash, reason: i.reason.slice(0, 500) };
    if (signature !== undefined && !Identity.verify(block.minerKey, invalidNoticeText(i), signature)) {
      throw new AuthError("bad_signature", "an invalidation is signed by the block's miner");
    }
    if (idx.invalid.has(i.hash)) return;
    idx.invalid.set(i.hash, note);
    await this.append(from, { invalid: note });
  }

  async miners(): Promise<string[]> {
    try {
      return (await readdir(this.dir)).filter((f) => f.endsWith(".ndjson")).map((f) => f.slice(0, -7));
    } catch {
      return [];
    }
  }

  /** The copy of `miner`'s branch, null when this node keeps none. */
  async branch(miner: string): Promise<BranchReport | null> {
    if (!HEX64.test(miner)) return null;
    const idx = await this.load(miner);
    if (idx.blocks.size === 0) return null;
    return { miner, blocks: [...idx.blocks.values()], invalid: [...idx.invalid.values()] };
  }

  private async readCopy(miner: string): Promise<BranchReport | null> {
    let text: string;
    try {
      text = await readFile(join(this.dir, `${miner}.ndjson`), "utf8");
    } catch {
      return null;
    }
    const blocks = new Map<string, Block>();
    const invalid: BranchReport["invalid"] = [];
    for (const line of text.split("\n")) {
      if (!line) continue;
      try {
        const e = JSON.parse(line) as Entry;
        if ("block" in e) blocks.set(e.block.hash, e.block);
        else invalid.push(e.invalid);
      } catch {
        // a torn last line after a crash: the entries before it stand
      }
    }
    return { miner, blocks: [...blocks.values()], invalid };
  }

  private load(miner: string): Promise<CopyIndex> {
    let idx = this.index.get(miner);
    if (!idx) {
      idx = this.readCopy(miner).then((r) => {
        const blocks = new Map((r?.blocks ?? []).map((b) => [b.hash, b] as const));
        return {
          blocks,
          heights: new Set([...blocks.values()].map((b) => b.height)),
          invalid: new Map((r?.invalid ?? []).map((i) => [i.hash, i] as const)),
        };
      });
      this.index.set(miner, idx);
    }
    return idx;
  }

  private async append(miner: string, e: Entry): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    await appendFile(join(this.dir, `${miner}.ndjson`), JSON.stringify(e) + "\n");
  }
}
