// Inventory checkpoints as members keep them: only what this network's admin signed, one file each.
import { mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { NetworkDescriptor } from "../ledger/genesis.js";
import { verifyCheckpoint, type Checkpoint } from "../ledger/inventory.js";
import { InputError } from "../util/errors.js";

/** The newest of `all` by signing time, or null when there is none. */
export function latestCheckpoint(all: Checkpoint[]): Checkpoint | null {
  return all.reduce<Checkpoint | null>((a, c) => (a === null || c.time > a.time ? c : a), null);
}

export class CheckpointStore {
  constructor(private readonly init: { dir: string; network: NetworkDescriptor }) {}

  async store(c: Checkpoint): Promise<{ stored: string }> {
    const bad = verifyCheckpoint(c, this.init.network);
    if (bad !== null) throw new InputError("bad_checkpoint", bad);
    await mkdir(this.init.dir, { recursive: true });
    const name = `${String(c.time).padStart(15, "0")}-${c.root.slice(0, 16)}.json`;
    await writeFile(join(this.init.dir, name), JSON.stringify(c) + "\n");
    return { stored: name };
  }

  /** Every checkpoint stored, checked again on the way out (a file may have been edited). */
  async all(): Promise<Checkpoint[]> {
    let names: string[];
    try {
      names = (await readdir(this.init.dir)).filter((n) => n.endsWith(".json"));
    } catch {
      return [];
    }
    const out: Checkpoint[] = [];
    for (const n of names) {
      try {
        const c = JSON.parse(await readFile(join(this.init.dir, n), "utf8")) as Checkpoint;
        if (verifyCheckpoint(c, this.init.network) === null) out.push(c);
      } catch {
        // Unreadable: not a checkpoint this node can offer.
      }
    }
    return out;
  }
}
