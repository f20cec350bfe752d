// Shared by the ledger-*.test.ts files: temp data dirs and ledgers that clean up after the test.
import { ExecutionContext } from "ava";
import { once } from "node:events";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Identity } from "../src/ledger/identity.js";
import { Block, Ledger, LedgerOptions } from "../src/ledger/ledger.js";

export const NET = { name: "ledger-test", adminPublicKey: Identity.generate().publicKeyHex };
export const T0 = 1_700_000_000_000;

export async function tempDir(t: ExecutionContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "fc-ledger-"));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

// Tier 2 (256 hashes a block) at a high rate: blocks in milliseconds, but not one per hash.
export async function openLedger(
  t: ExecutionContext,
  opts: Partial<LedgerOptions> = {},
  dir?: string,
): Promise<Ledger> {
  dir ??= await tempDir(t);
  const identity = opts.identity ?? (await Identity.loadOrCreate(dir));
  const ledger = await Ledger.open({
    dir,
    identity,
    network: NET,
    hashesPerSecond: 200_000,
    blockIntervalMs: 0,
    reliability: () => 0.4,
    ...opts,
  });
  t.teardown(() => ledger.close());
  return ledger;
}

export async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

/** The block at `height`, waiting for it to be mined and written if need be. */
export async function blockAt(ledger: Ledger, height: number): Promise<Block> {
  for (;;) {
    const next = once(ledger, "block");
    for await (const b of ledger.blocks()) if (b.height === height) return b;
    await next;
  }
}
