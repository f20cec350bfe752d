// A network (admin, join token), a miner's branch with a block of n records sealed by the next
// block, two more blocks, and an admin-signed checkpoint naming the last one: the parts of an
// inclusion proof, built by hand so a block can hold 10,000 records without mining.
import type { Block } from "../../src/ledger/block.js";
import { genesisBlock, networkId, type NetworkDescriptor } from "../../src/ledger/genesis.js";
import { Identity } from "../../src/ledger/identity.js";
import { signCheckpoint, type Checkpoint } from "../../src/ledger/inventory.js";
import type { MerkleVersion } from "../../src/ledger/merkle.js";
import { buildProof, type InclusionProof } from "../../src/ledger/proof.js";
import type { RecordDoc } from "../../src/ledger/record.js";
import { createMembershipToken } from "../../src/net/membership.js";
import { nextBlock, recordsIn } from "./branch-builder.js";

export interface ProofFixture {
  admin: Identity;
  miner: Identity;
  network: NetworkDescriptor;
  token: string;
  records: RecordDoc[];
  /** [record block, sealing block, two more]. */
  blocks: Block[];
  checkpoint: Checkpoint;
  proof(index: number, opts?: { checkpoint?: boolean }): InclusionProof;
}

const T = 1_700_000_000_000;

export function proofFixture(
  n: number,
  opts: { merkle?: MerkleVersion; admin?: Identity } = {},
): ProofFixture {
  const admin = opts.admin ?? Identity.generate();
  const miner = Identity.generate();
  const network = { name: "proof-test", adminPublicKey: admin.publicKeyHex };
  const token = createMembershipToken(admin, { networkId: networkId(network), name: network.name });
  const genesis = genesisBlock(network);
  const block = nextBlock(miner, genesis, [], { merkle: opts.merkle, timestamp: T });
  const records = recordsIn(
    miner,
    block,
    Array.from({ length: n }, (_, i) => ({ source: `urn:dev:${i % 7}`, timestamp: T + i, value: { i } })),
  );
  const leaves = records.map((r) => r.txID);
  const sealing = nextBlock(miner, block, leaves, { merkle: opts.merkle });
  const b3 = nextBlock(miner, sealing, []);
  const b4 = nextBlock(miner, b3, []);
  const blocks = [block, sealing, b3, b4];
  const other = Identity.generate();
  const heads = [
    { miner: miner.id, height: b4.height, head: b4.hash },
    { miner: other.id, height: 1, head: nextBlock(other, genesis, []).hash },
  ].sort((a, b) => (a.miner < b.miner ? -1 : 1));
  const checkpoint = signCheckpoint(admin, network, { blocks: [], heads, invalid: [] }, [], T + 60_000);
  return {
    admin,
    miner,
    network,
    token,
    records,
    blocks,
    checkpoint,
    proof: (index, o = {}) =>
      buildProof({
        network,
        record: records[index],
        leaves,
        blocks: o.checkpoint === false ? blocks.slice(0, 2) : blocks,
        membership: token,
        checkpoint: o.checkpoint === false ? null : checkpoint,
      }),
  };
}
