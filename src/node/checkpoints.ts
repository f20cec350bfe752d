// Inventory checkpoints as members keep them: only what this network's admin signed, one file each.
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { NetworkDescriptor } from "../ledger/genesis.js";
import { verifyCheckpoint, type Checkpoint } from "../ledger/inventory.js";
import { InputError } from "../util/errors.js";

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
}
