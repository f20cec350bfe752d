// A merged ledger on disk: NDJSON whose first line names the network and carries the admin-signed
// checkpoint, followed by every merged block in order. `flowchain verify --file` checks it offline.
import { createReadStream } from "node:fs";
import { createInterface } from "node:readline";
import type { Block } from "./block.js";
import { LEDGER_CONTEXT_URL } from "./context.js";
import { networkId, type NetworkDescriptor } from "./genesis.js";
import { verifyMerged, type Checkpoint, type Merged } from "./inventory.js";

export interface MergedHeader {
  "@context": string;
  "@type": "MergedLedger";
  network: NetworkDescriptor;
  checkpoint: Checkpoint;
}

export function* mergedLines(
  desc: NetworkDescriptor,
  checkpoint: Checkpoint,
  merged: Merged,
): Generator<string> {
  const header: MergedHeader = {
    "@context": LEDGER_CONTEXT_URL,
    "@type": "MergedLedger",
    network: desc,
    checkpoint,
  };
  yield JSON.stringify(header) + "\n";
  for (const b of merged.blocks) yield JSON.stringify(b) + "\n";
}

export async function isMergedFile(file: string): Promise<boolean> {
  const rl = createInterface({ input: createReadStream(file, { encoding: "utf8" }), crlfDelay: Infinity });
  try {
    for await (const line of rl) {
      try {
        return (JSON.parse(line) as { "@type"?: unknown })["@type"] === "MergedLedger";
      } catch {
        return false;
      }
    }
    return false;
  } finally {
    rl.close();
  }
}

export async function verifyMergedFile(
  file: string,
): Promise<{ ok: boolean; network?: string; blocks: number; what?: string }> {
  const rl = createInterface({ input: createReadStream(file, { encoding: "utf8" }), crlfDelay: Infinity });
  let header: MergedHeader | undefined;
  const blocks: Block[] = [];
  let lineNo = 0;
  for await (const line of rl) {
    lineNo++;
    if (!line.trim()) continue;
    let v: unknown;
    try {
      v = JSON.parse(line);
    } catch {
      return { ok: false, blocks: blocks.length, what: `line ${lineNo} is not JSON` };
    }
    if (!header) header = v as MergedHeader;
    else blocks.push(v as Block);
  }
  if (!header || header["@type"] !== "MergedLedger")
    return { ok: false, blocks: 0, what: "no MergedLedger header" };
  const what = verifyMerged(header.network, header.checkpoint, blocks);
  return what === null
    ? { ok: true, network: networkId(header.network), blocks: blocks.length }
    : { ok: false, network: networkId(header.network), blocks: blocks.length, what };
}
