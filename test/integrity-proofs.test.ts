// What counts as "in a miner's branch" (src/node/branch-proofs.ts), on a real ledger's blocks: a
// header chain signed by the miner and linked back to genesis, fetched from the miner or a copy;
// blocks on an invented parent, of another miner, at a wrong height, or of a removed member never.
import test from "ava";
import { hashHeader, makeBlock, type Block } from "../src/ledger/block.js";
import { genesisBlock } from "../src/ledger/genesis.js";
import { Identity } from "../src/ledger/identity.js";
import { BranchProofs } from "../src/node/branch-proofs.js";
import { eventually } from "./helpers/eventually.js";
import { collect, NET, openLedger, T0 } from "./ledger-helpers.js";

const MINER_PEER = { id: "", addr: "miner:1" };

test("a block is proven only through signed headers linked back to genesis", async (t) => {
  const identity = Identity.generate();
  const ledger = await openLedger(t, { identity });
  for (let i = 0; i < 30; i++) await ledger.put({ source: "urn:t", timestamp: T0 + i, value: i });
  const blocks = await eventually(async () => {
    const all = (await collect(ledger.blocks())).filter((b) => b.height > 0);
    return all.length >= 3 ? all : undefined;
  }, "three mined blocks");
  const miner = identity.id;
  const peer = { ...MINER_PEER, id: miner };
  const revoked = new Set<string>();
  let fetches = 0;
  const proofs = new BranchProofs({
    selfId: "f".repeat(64),
    genesisHash: genesisBlock(NET).hash,
    ownBlock: async () => undefined,
    localCopy: async () => null,
    fetch: async (_p, _m, from) => {
      fetches++;
      return { blocks: blocks.filter((b) => b.height >= from), more: false };
    },
    known: () => [],
    isRevoked: (id) => revoked.has(id),
  });
  const top = blocks[blocks.length - 1];

  t.true(await proofs.contains(miner, top.hash, top.height, [peer]));
  t.true(await proofs.contains(miner, blocks[0].hash, 1, [peer]));
  t.is(fetches, 1, "proven headers are remembered");
  t.false(await proofs.contains(miner, top.hash, top.height + 1, [peer]), "a wrong height");

  // Signed by the miner, but on an invented parent: linked to nothing.
  const orphanHeader = { ...top, height: 2, prev: "ab".repeat(32), timestamp: Date.now() };
  const orphan = makeBlock(orphanHeader, hashHeader(orphanHeader), identity);
  t.is(proofs.learn(miner, [orphan]), 0);
  t.false(await proofs.contains(miner, orphan.hash, 2, [peer]));

  // Another key's block presented as this miner's branch, and one with a broken signature.
  const other = Identity.generate();
  const foreign = makeBlock(
    { ...blocks[0], miner: other.id },
    hashHeader({ ...blocks[0], miner: other.id }),
    other,
  );
  t.is(proofs.learn(miner, [foreign]), 0);
  const forged: Block = { ...blocks[0], signature: "00".repeat(64) };
  const fresh = new BranchProofs({
    selfId: "f".repeat(64),
    genesisHash: genesisBlock(NET).hash,
    ownBlock: async () => undefined,
    localCopy: async () => [forged],
    fetch: async () => null,
    known: () => [],
    isRevoked: () => false,
  });
  t.false(await fresh.contains(miner, forged.hash, 1));

  // A removed member's branch proves nothing any more.
  revoked.add(miner);
  t.false(await proofs.contains(miner, top.hash, top.height, [peer]));
});
