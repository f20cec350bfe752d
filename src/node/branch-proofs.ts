// Whether a block belongs to a miner's branch: its signed header links, header by header, back to
// the network's genesis. A record is stored as a replica, served, counted or approved only if its
// block passes this check, so a member cannot plant records in a block it invented (a signed
// header alone proves nothing: anyone can sign a block that links to nothing).
//
// Verified headers are remembered per miner (hash -> height), so each block of a branch is checked
// once; headers come from this node's own ledger, the branch copies it keeps, or a peer: the miner
// answers with pages of its own branch, any other member with the copy of that branch it keeps.
import type { PeerRef } from "../chord/transport.js";
import { verifyBlock, type Block } from "../ledger/block.js";
import type { RecordDoc } from "../ledger/record.js";

/**
 * Pages of one branch fetched per proof (10,000 pages of 500: years of blocks). Every page must
 * add proven headers above the last, so a peer cannot keep the loop going without signed work.
 */
const MAX_PAGES = 10_000;
/** Miners remembered; beyond that the least recently added is forgotten and re-proven if needed. */
const MAX_MINERS = 4096;

export interface BranchProofComponents {
  selfId: string;
  genesisHash: string;
  /** A block of this node's own branch (its own ledger is the branch). */
  ownBlock(hash: string): Promise<Block | undefined>;
  /** The copy of `miner`'s branch this node keeps, if any. */
  localCopy(miner: string): Promise<Block[] | null>;
  /** Headers of `miner`'s branch from `peer`, at heights >= `from` (the miner's own pages, or a copy). */
  fetch(peer: PeerRef, miner: string, from: number): Promise<{ blocks: Block[]; more: boolean } | null>;
  /** Members this node knows, to reach a miner that is not the sender. */
  known(): PeerRef[];
  /** Removed members: nothing of theirs is proven any more. */
  isRevoked(id: string): boolean;
}

export class BranchProofs {
  private readonly verified = new Map<string, Map<string, number>>();
  private readonly tips = new Map<string, number>();
  private readonly fetching = new Map<string, Promise<void>>();

  constructor(private readonly c: BranchProofComponents) {}

  /** True when a record's block is in its miner's branch (and the miner is not removed). */
  holds(doc: Pick<RecordDoc, "miner" | "block" | "height">, via: PeerRef[] = []): Promise<boolean> {
    return this.contains(doc.miner, doc.block, doc.height, via);
  }

  /** True when block `hash` at `height` is in `miner`'s branch, asking `via` (then the miner) if needed. */
  async contains(miner: string, hash: string, height: number, via: PeerRef[] = []): Promise<boolean> {
    if (this.c.isRevoked(miner)) return false;
    if (miner === this.c.selfId) {
      const own = await this.c.ownBlock(hash);
      return own !== undefined && own.height === height && own.miner === miner;
    }
    if (this.has(miner, hash, height)) return true;
    const copy = await this.c.localCopy(miner).catch(() => null);
    // Only what lies above the proven tip can be new: a long copy costs a filter, not a sort.
    const tip = this.tip(miner);
    if (copy)
      this.learn(
        miner,
        copy.filter((b) => b.height > tip || b.hash === hash),
      );
    if (this.has(miner, hash, height)) return true;
    const minerRef = this.c.known().find((p) => p.id === miner);
    const sources = [...via, ...(minerRef ? [minerRef] : [])];
    const tried = new Set<string>();
    for (const s of sources) {
      if (tried.has(s.id) || s.id === this.c.selfId) continue;
      tried.add(s.id);
      await this.fetchFrom(s, miner);
      if (this.has(miner, hash, height)) return true;
    }
    return false;
  }

  /**
   * Remembers every header of `blocks` that is signed by `miner` and links to genesis or to a
   * header of `miner` already proven, one height up. Anything else is ignored, not trusted.
   */
  learn(miner: string, blocks: readonly Block[]): number {
    let known = this.verified.get(miner);
    let added = 0;
    for (const b of [...blocks].sort((x, y) => x.height - y.height)) {
      if (b.miner !== miner || known?.has(b.hash)) continue;
      const parent = b.prev === this.c.genesisHash ? 0 : known?.get(b.prev);
      if (parent === undefined || parent !== b.height - 1 || verifyBlock(b) !== null) continue;
      if (!known) {
        known = new Map();
        this.remember(miner, known);
      }
      known.set(b.hash, b.height);
      if (b.height > (this.tips.get(miner) ?? 0)) this.tips.set(miner, b.height);
      added++;
    }
    return added;
  }

  forget(miner: string): void {
    this.verified.delete(miner);
    this.tips.delete(miner);
  }

  private has(miner: string, hash: string, height: number): boolean {
    return this.verified.get(miner)?.get(hash) === height;
  }

  private remember(miner: string, known: Map<string, number>): void {
    if (this.verified.size >= MAX_MINERS) {
      const oldest = this.verified.keys().next().value;
      if (oldest !== undefined) this.forget(oldest);
    }
    this.verified.set(miner, known);
  }

  private tip(miner: string): number {
    return this.tips.get(miner) ?? 0;
  }

  /** One fetch per (peer, miner) at a time: a burst of replicas of one new block costs one page. */
  private fetchFrom(peer: PeerRef, miner: string): Promise<void> {
    const k = `${peer.id}|${miner}`;
    const running = this.fetching.get(k);
    if (running) return running;
    const run = this.pages(peer, miner).finally(() => this.fetching.delete(k));
    this.fetching.set(k, run);
    return run;
  }

  private async pages(peer: PeerRef, miner: string): Promise<void> {
    let from = this.tip(miner) + 1;
    for (let i = 0; i < MAX_PAGES; i++) {
      const page = await this.c.fetch(peer, miner, from).catch(() => null);
      if (!page || page.blocks.length === 0) return;
      if (this.learn(miner, page.blocks) === 0) return;
      const next = this.tip(miner) + 1;
      if (!page.more || next <= from) return;
      from = next;
    }
  }
}
