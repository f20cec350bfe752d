// NDJSON export of a node's branch: the genesis block, then each block followed by its records in
// Merkle leaf order, one JSON-LD document per line. That order is what verifyExportFile replays.
// Withdrawal notices (withdrawal.ts) follow the last block: the records they name are in the
// blocks above, since a block's records never change.
// Like verifyDataDir, it opens the node's LevelDB and so needs the node stopped.
import { once } from "node:events";
import { blockRecords, openStore, rangeEntries } from "./store.js";

export async function exportDataDir(dir: string, out: NodeJS.WritableStream): Promise<void> {
  const store = await openStore(dir, false);
  const write = async (line: string) => {
    // Respect backpressure: an export can be far larger than memory.
    if (!out.write(line + "\n")) await once(out, "drain");
  };
  try {
    for await (const [, hash] of rangeEntries(store.heights)) {
      const b = await store.block(hash);
      if (b === undefined) throw new Error(`block ${hash} is listed but missing`);
      await write(b);
      for await (const d of blockRecords(store, hash)) await write(d);
    }
    for await (const notice of store.withdrawals.values()) await write(notice);
  } finally {
    await store.close();
  }
}
