// Copies of the branches of this node's predecessors: each node sends every block it mines (and
// every block it retires) to its successors, so an inventory can stand in for a node that is down.
// Append-only NDJSON per miner: blocks are small, rare (seconds apart) and never rewritten.
import { appendFile, mkdir, readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { verifyBlock, type Block } from "../ledger/block.js";
import type { BranchReport } from "../ledger/inventory.js";
import { InputError } from "../util/errors.js";
import { HEX64 } from "../util/hex.js";

type Entry = { block: Block } | { invalid: { hash: string; reason: string } };

export class BranchCopies {
  constructor(private readonly dir: string) {}

  /** A block its miner sent (shape parsed by the protocol table; hash, work and signature checked here). */
  async addBlock(from: string, b: Block): Promise<void> {
    const bad = verifyBlock(b);
    if (bad !== null) throw new InputError("bad_block", `block copy rejected: ${bad}`);
    // Only the miner itself may hand out copies of its branch.
    if (b.miner !== from) throw new InputError("bad_block", "a node sends copies of its own blocks only");
    await this.append(from, { block: b });
  }

  async addInvalid(from: string, i: { hash: string; reason: string }): Promise<void> {
    await this.append(from, { invalid: { hash: i.hash, reason: i.reason.slice(0, 500) } });
  }

  async miners(): Promise<string[]> {
    try {
      return (await readdir(this.dir)).filter((f) => f.endsWith(".ndjson")).map((f) => f.slice(0, -7));
    } catch {
      return [];
    }
  }

  async branch(miner: string): Promise<BranchReport | null> {
    if (!HEX64.test(miner)) return null;
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

  private async append(miner: string, e: Entry): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    await appendFile(join(this.dir, `${miner}.ndjson`), JSON.stringify(e) + "\n");
  }
}
