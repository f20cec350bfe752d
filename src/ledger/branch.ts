// This node's branch as the write pipeline and the miner share it: the head, the single valid
// block taking records (MRU, paper Listing 3), the Merkle leaves it holds so far, and the record
// count. openBranch reads it back from the store, creating the branch (genesis) on first use.
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { InputError } from "../util/errors.js";
import type { Block } from "./block.js";
import { genesisBlock, type NetworkDescriptor } from "./genesis.js";
import type { Identity } from "./identity.js";
import { MerkleAccumulator } from "./merkle.js";
import {
  FORMAT,
  META,
  blockRange,
  heightKey,
  rangeEntries,
  txIDOf,
  type LedgerMeta,
  type Store,
} from "./store.js";
import type { Op } from "./write-chain.js";

export class Branch {
  head: Block;
  valid: Block | null;
  /** Leaves of the head block: the next block's sealedRoot. */
  acc: MerkleAccumulator;
  /** This node's own records, sealed or not. */
  records: number;

  constructor(init: { head: Block; valid: Block | null; acc: MerkleAccumulator; records: number }) {
    this.head = init.head;
    this.valid = init.valid;
    this.acc = init.acc;
    this.records = init.records;
  }

  /** The newest block is the single valid one from this instant. */
  extend(block: Block): void {
    this.head = block;
    this.valid = block;
    this.acc = new MerkleAccumulator();
  }

  /** Retires the block in use, if any, and returns it. */
  retire(): Block | null {
    const b = this.valid;
    this.valid = null;
    return b;
  }
}

export interface OpenedBranch {
  branch: Branch;
  /** The previous process died with the store open (paper 4.1: abnormal termination). */
  unclean: boolean;
}

export async function openBranch(
  store: Store,
  opts: { dir: string; identity: Identity; network: NetworkDescriptor; sync?: boolean },
): Promise<OpenedBranch> {
  const meta: LedgerMeta = {
    network: { name: opts.network.name, adminPublicKey: opts.network.adminPublicKey },
    nodeId: opts.identity.id,
    publicKey: opts.identity.publicKeyHex,
  };
  const stored = await store.meta.get(META.ledger);
  if (stored !== undefined) checkOwner(JSON.parse(stored) as LedgerMeta, meta, opts.dir);
  else await createBranch(store, meta, opts);
  const head = JSON.parse((await store.block((await store.headHash())!))!) as Block;
  const acc = new MerkleAccumulator();
  for await (const [, pk] of rangeEntries(store.blockRecords, blockRange(head.hash))) acc.add(txIDOf(pk));
  const records = Number((await store.meta.get(META.records)) ?? "0");
  const state = await store.meta.get(META.state);
  const invalid = (await store.invalid.get(head.hash)) !== undefined;
  let valid: Block | null = head.height >= 1 && !invalid ? head : null;
  const ops: Op[] = [{ type: "put", sublevel: store.meta, key: META.state, value: "open" }];
  const unclean = state !== "clean";
  if (unclean && valid) {
    ops.push({ type: "put", sublevel: store.invalid, key: head.hash, value: "unclean shutdown" });
    valid = null;
  }
  await store.db.batch(ops, { sync: opts.sync ?? false });
  return { branch: new Branch({ head, valid, acc, records }), unclean };
}

function checkOwner(m: LedgerMeta, meta: LedgerMeta, dir: string): void {
  if (m.network.name !== meta.network.name || m.network.adminPublicKey !== meta.network.adminPublicKey) {
    throw new InputError("wrong_network", `data dir ${dir} belongs to network "${m.network.name}"`);
  }
  if (m.publicKey !== meta.publicKey) {
    throw new InputError("wrong_identity", `data dir ${dir} belongs to node ${m.nodeId}`);
  }
}

async function createBranch(
  store: Store,
  meta: LedgerMeta,
  opts: { dir: string; network: NetworkDescriptor },
): Promise<void> {
  const g = genesisBlock(opts.network);
  await store.db.batch([
    { type: "put", sublevel: store.meta, key: META.ledger, value: JSON.stringify(meta) },
    { type: "put", sublevel: store.meta, key: META.format, value: String(FORMAT) },
    { type: "put", sublevel: store.blocks, key: g.hash, value: JSON.stringify(g) },
    { type: "put", sublevel: store.heights, key: heightKey(0), value: g.hash },
    { type: "put", sublevel: store.meta, key: META.records, value: "0" },
    { type: "put", sublevel: store.meta, key: META.state, value: "clean" },
  ]);
  // A copy outside LevelDB for people and tools (the authoritative one is in the store).
  await writeFile(join(opts.dir, "ledger.json"), JSON.stringify(meta, null, 2) + "\n");
}
