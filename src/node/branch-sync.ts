// This node's branch as its successors keep it: a new successor gets the whole branch once, then
// each block (and each retirement) as it happens, so an inventory can stand in for us while we
// are down. Also serves this node's branch a page at a time.
import type { ChordNode } from "../chord/node.js";
import type { PeerRef } from "../chord/transport.js";
import type { Block } from "../ledger/block.js";
import type { Ledger } from "../ledger/ledger.js";
import type { Logger } from "../log.js";
import { errorText } from "../util/errors.js";
import type { BranchPage } from "./inventory.js";
import type { PeerClient } from "./protocol/peer-client.js";
import { BRANCH_PAGE } from "./protocol/table.js";
import { invalidNoticeText } from "./branch-copies.js";
import { MAX_REASON } from "./protocol/shapes.js";

/** Successors that keep a copy of this node's branch. */
const COPY_HOLDERS = 2;

export class BranchSync {
  private readonly copiedTo = new Set<string>();

  constructor(
    private readonly c: {
      ledger: Ledger;
      chord: ChordNode;
      client: PeerClient;
      log: Logger;
      /** Signs with this node's key: an invalidation notice is the miner's signed word. */
      sign: (text: string) => string;
    },
  ) {}

  /** The ring moved: successors that have no copy yet get the whole branch. */
  onSuccessors(list: PeerRef[]): void {
    const self = this.c.chord.self.id;
    for (const t of list.filter((p) => p.id !== self).slice(0, COPY_HOLDERS)) {
      if (this.copiedTo.has(t.id)) continue;
      this.copiedTo.add(t.id);
      this.copyBranchTo(t).catch(() => this.copiedTo.delete(t.id));
    }
  }

  onBlock(block: Block): void {
    this.toSuccessors((t) => this.c.client.call(t, "ledger.blockCopy", { block }));
  }

  onInvalid(invalid: { hash: string; reason: string }): void {
    const note = { hash: invalid.hash, reason: invalid.reason.slice(0, MAX_REASON) };
    const signature = this.c.sign(invalidNoticeText(note));
    this.toSuccessors((t) => this.c.client.call(t, "ledger.invalidCopy", { invalid: note, signature }));
  }

  async page(from = 1, limit = BRANCH_PAGE): Promise<BranchPage> {
    limit = Math.min(limit, BRANCH_PAGE);
    const blocks: Block[] = [];
    const invalid: BranchPage["invalid"] = [];
    let more = false;
    for await (const b of this.c.ledger.blocks(from)) {
      if (blocks.length === limit) {
        more = true;
        break;
      }
      blocks.push(b);
      const reason = await this.c.ledger.isInvalid(b.hash);
      if (reason !== undefined) invalid.push({ hash: b.hash, reason });
    }
    return { blocks, invalid, more };
  }

  private async copyBranchTo(target: PeerRef): Promise<void> {
    for (let from = 1; ; from += BRANCH_PAGE) {
      const page = await this.page(from, BRANCH_PAGE);
      await this.c.client.call(target, "ledger.branchCopy", { blocks: page.blocks, invalid: page.invalid });
      if (!page.more) return;
    }
  }

  private toSuccessors(send: (t: PeerRef) => Promise<unknown>): void {
    const self = this.c.chord.self.id;
    for (const t of this.c.chord
      .successors()
      .filter((s) => s.id !== self)
      .slice(0, COPY_HOLDERS)) {
      send(t).catch((err) => this.c.log.debug("branch copy failed", { peer: t.id, err: errorText(err) }));
    }
  }
}
