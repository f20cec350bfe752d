// Inclusion proofs on a node. Only a record's miner stores the leaves of its block, so the miner
// builds the proof (`own`); any other node asks every member and hands out only a proof that it
// has checked itself (`proof`). The proof format and what it shows: src/ledger/proof.ts, README.
import { once } from "node:events";
import type { PeerRef } from "../chord/transport.js";
import type { Block } from "../ledger/block.js";
import type { NetworkDescriptor } from "../ledger/genesis.js";
import type { Checkpoint } from "../ledger/inventory.js";
import type { Ledger } from "../ledger/ledger.js";
import {
  buildProof,
  coveringCheckpoint,
  verifyProof,
  type InclusionProof,
  type ProofReport,
} from "../ledger/proof.js";
import { verifyMembershipToken } from "../net/membership.js";
import { InputError, NotFoundError, UnavailableError } from "../util/errors.js";
import { HEX64 } from "../util/hex.js";
import type { PeerClient } from "./protocol/peer-client.js";

/**
 * How long the miner waits for the block sealing a fresh record before answering "not sealed yet":
 * blocks come about a second apart while there are records to seal, and a peer call times out at 3 s.
 */
const SEAL_WAIT_MS = 2000;

/** Checks a proof with the membership rule of this network code; `expect` pins a network. */
export function checkProof(
  proof: unknown,
  expect: { networkId?: string; adminPublicKey?: string } = {},
): ProofReport {
  return verifyProof(proof, { checkMembership: verifyMembershipToken, ...expect });
}

export interface ProofDeps {
  selfId: string;
  ledger: Pick<Ledger, "getByTxID" | "block" | "blockAt" | "leaves" | "height" | "on" | "off">;
  network: { descriptor: NetworkDescriptor; networkId: string; proof: string };
  checkpoints: { all(): Promise<Checkpoint[]> };
  members(): Promise<PeerRef[]>;
  client: Pick<PeerClient, "call">;
  sealWaitMs?: number;
}

export class Proofs {
  constructor(private readonly d: ProofDeps) {}

  /** A proof of one of this node's own records; null when the txID is not one of them. */
  async own(txID: string): Promise<InclusionProof | null> {
    const { ledger } = this.d;
    const record = await ledger.getByTxID(txID);
    if (!record) return null;
    const block = await ledger.block(record.block);
    const sealing = await this.sealing(record.height);
    if (!block || !sealing || sealing.prev !== block.hash) {
      throw new UnavailableError(
        "not_sealed",
        `transaction ${txID} is in block ${record.height}, which no block seals yet: retry in a second`,
      );
    }
    const blocks: Block[] = [block, sealing];
    let checkpoint: Checkpoint | null = null;
    const cover = coveringCheckpoint(await this.d.checkpoints.all(), this.d.selfId, sealing.height);
    if (cover) {
      const more: Block[] = [];
      for (let h = sealing.height + 1; h <= cover.head.height; h++) {
        const b = await ledger.blockAt(h);
        if (!b) break;
        more.push(b);
      }
      const last = more[more.length - 1] ?? sealing;
      // A checkpoint naming another head at that height than ours is not about this branch: left out.
      if (last.hash === cover.head.head) {
        blocks.push(...more);
        checkpoint = cover.checkpoint;
      }
    }
    return buildProof({
      network: this.d.network.descriptor,
      record,
      leaves: await ledger.leaves(block.hash),
      blocks,
      membership: this.d.network.proof,
      checkpoint,
    });
  }

  /** The block at height + 1, waiting a little for it when the record's block is the newest. */
  private async sealing(height: number): Promise<Block | undefined> {
    const { ledger } = this.d;
    const deadline = Date.now() + (this.d.sealWaitMs ?? SEAL_WAIT_MS);
    for (;;) {
      const b = await ledger.blockAt(height + 1);
      const left = deadline - Date.now();
      if (b || left <= 0) return b;
      const ac = new AbortController();
      const timer = setTimeout(() => ac.abort(), left);
      try {
        await once(ledger as unknown as NodeJS.EventEmitter, "block", { signal: ac.signal });
      } catch {
        // Timed out: one last look above.
      } finally {
        clearTimeout(timer);
      }
    }
  }

  /** A checked proof of any record of the network: built here, or by its miner. */
  async proof(txID: unknown): Promise<InclusionProof> {
    if (typeof txID !== "string" || !HEX64.test(txID)) {
      throw new InputError("bad_txid", "txID must be 64 lowercase hex characters");
    }
    const own = await this.own(txID);
    if (own) return own;
    const others = (await this.d.members()).filter((m) => m.id !== this.d.selfId);
    const answers = await Promise.allSettled(
      others.map((m) => this.d.client.call(m, "ledger.proof", { txID })),
    );
    let refused: string | null = null;
    for (const a of answers) {
      if (a.status === "rejected") {
        if (a.reason instanceof UnavailableError && a.reason.code === "not_sealed") throw a.reason;
        continue;
      }
      if (a.value === null) continue;
      const r = checkProof(a.value, { networkId: this.d.network.networkId });
      // Only the miner can build it; a member lying about it is ignored, and said so if nobody else answers.
      if (r.ok && a.value.record.txID === txID) return a.value as InclusionProof;
      refused = r.reason ?? "proves another transaction";
    }
    if (refused !== null) throw new NotFoundError(`the only proof of ${txID} offered fails: ${refused}`);
    if (answers.some((a) => a.status === "rejected")) {
      throw new UnavailableError(
        "miner_unreachable",
        `no reachable member has transaction ${txID}; retry later`,
      );
    }
    throw new NotFoundError(`no transaction ${txID} in this network`);
  }
}
