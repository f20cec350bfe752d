// Data placement: a key lives on successor(key) (which records it in its own branch) and on the
// next k-1 successors (as verified replicas of that signed record). A put is acknowledged once w
// copies are durable. Repair pushes each node's own range to its successors, which both restores
// k copies after a failure and hands keys to a node that joined in front of it.
import type { ChordNode } from "../chord/node.js";
import { betweenRightIncl } from "../chord/id.js";
import type { PeerRef } from "../chord/transport.js";
import type { Ledger } from "../ledger/ledger.js";
import type { KeyedChunk } from "./keyed-chunk.js";
import type { RecordDoc } from "../ledger/record.js";
import type { PeerClient } from "./protocol/peer-client.js";
import { KEY_BATCH } from "./protocol/table.js";
import type { Logger } from "../log.js";
import { errorText, InputError, UnavailableError } from "../util/errors.js";
import { ReplicaBatcher } from "./replica-batcher.js";
import { HEX64 } from "../util/hex.js";
import type { BranchProofs } from "./branch-proofs.js";

/** Own records outside this node's range looked up and sent in one repair pass. */
const MAX_STRAYS_PER_PASS = 5_000;

/** Something this node holds for a key: its own record or a replica. */
interface HeldEntry {
  key: string;
  txID: string;
  replica: boolean;
}

export interface PlacementOptions {
  replicas: number;
  writeQuorum: number;
  log: Logger;
}

export class Placement {
  private repairing = false;
  private repairAgain = false;
  private readonly batcher: ReplicaBatcher;

  constructor(
    private readonly components: {
      ledger: Ledger;
      client: PeerClient;
      chord: ChordNode;
      proofs: BranchProofs;
      /** False only while this node has never had a peer: then one copy is all there can be. */
      hasHadPeers: () => boolean;
      /** Holds back puts and copies of records an unclean shutdown left unsettled (crash-recovery.ts). */
      recovery?: { ready(key: string): Promise<void>; done(): Promise<void> };
    },
    private readonly opts: PlacementOptions,
  ) {
    this.ledger = components.ledger;
    this.chord = components.chord;
    this.batcher = new ReplicaBatcher((to, records) =>
      components.client.call(to, "store.replica", { records }),
    );
  }

  private readonly ledger: Ledger;
  private readonly chord: ChordNode;

  /**
   * Records a chunk this node owns and waits for the write quorum: w durable copies, or the put
   * fails. Only a network that has only ever had this one node acknowledges with fewer (there is
   * nobody to copy to); a node that has had peers and cannot reach w-1 of them refuses with 503
   * before writing anything. Replication starts once the owner's record is durable in its branch,
   * so a copy never exists of a record that is in no branch.
   */
  async storeAsOwner(chunk: KeyedChunk): Promise<{ record: RecordDoc; copies: number }> {
    await this.components.recovery?.ready(chunk.key);
    const targets = this.replicaTargets();
    const alone = !this.components.hasHadPeers();
    const needed = alone
      ? Math.min(this.opts.writeQuorum, 1 + targets.length) - 1
      : this.opts.writeQuorum - 1;
    if (targets.length < needed) {
      throw new UnavailableError(
        "not_enough_replicas",
        `not enough replicas: ${targets.length + 1} of the ${needed + 1} copies a put needs are reachable`,
        5,
      );
    }
    // A repeated chunk resolves with the record already held (this node's own, or a replica).
    const record = await this.ledger.put({
      source: chunk.source,
      timestamp: chunk.timestamp,
      value: chunk.value,
    });
    const copies = 1 + (await this.replicate(targets, record, needed));
    if (copies - 1 < needed) {
      throw new UnavailableError(
        "not_enough_replicas",
        `not enough replicas: only ${copies} of ${needed + 1} copies are durable`,
        5,
      );
    }
    return { record, copies };
  }

  async find(key: string): Promise<RecordDoc | undefined> {
    if (!HEX64.test(key)) return undefined;
    return (await this.ledger.getByKey(key)) ?? (await this.ledger.getReplica(key));
  }

  /**
   * Stores replicas of other miners' records, each only once its block is proven in its miner's
   * branch (headers from `via`, the sender, or from the miner): a replica of a record in a block
   * its miner never mined, or of a removed member, is refused, so it can never stand in for a
   * real put. All or nothing, like the verification of the records themselves.
   */
  async acceptReplicas(records: RecordDoc[], via: PeerRef[]): Promise<{ stored: number }> {
    const self = this.chord.self.id;
    const checked = new Set<string>();
    for (const doc of records) {
      const block = `${doc.miner}|${doc.block}|${doc.height}`;
      if (doc.miner === self || checked.has(block)) continue;
      if (!(await this.components.proofs.holds(doc, via))) {
        throw new InputError(
          "not_in_branch",
          `replica rejected: block ${doc.block} is not in the branch of ${doc.miner}`,
        );
      }
      checked.add(block);
    }
    return this.ledger.storeReplicas(records);
  }

  /**
   * The txIDs among `entries` this node lacks. A chunk recorded in two branches (both sides of a
   * partition) is wanted next to an own record of the same key, so the node ends up holding both
   * and can report the duplicate; between two replicas of one key the lower txID (the payable one,
   * see approval.ts) is kept, so repairs settle instead of swapping them back and forth.
   */
  async missing(entries: { key: string; txID: string }[]): Promise<{ missing: string[] }> {
    const missing: string[] = [];
    for (const { key, txID } of entries) {
      const own = await this.ledger.getByKey(key);
      const replica = await this.ledger.getReplica(key);
      if (own?.txID === txID || replica?.txID === txID) continue;
      if (replica && replica.txID < txID) continue;
      missing.push(txID);
    }
    return { missing };
  }

  /** Chunks this node holds in two records: its own and a replica of another miner's. */
  async duplicates(max: number): Promise<{ key: string; records: { txID: string; miner: string }[] }[]> {
    const out: { key: string; records: { txID: string; miner: string }[] }[] = [];
    for await (const { key, txID } of this.ledger.ownEntries()) {
      const replica = await this.ledger.getReplica(key);
      if (!replica || replica.txID === txID) continue;
      out.push({
        key,
        records: [
          { txID, miner: this.chord.self.id },
          { txID: replica.txID, miner: replica.miner },
        ],
      });
      if (out.length >= max) break;
    }
    return out;
  }

  /**
   * Pushes every key in (predecessor, self] to the first k-1 successors that lack it. Runs when the
   * ring around this node changes (and on a slow timer as a safety net): a full pass costs a key
   * exchange per record, so it must not run on every stabilization round.
   */
  repair(): Promise<number> {
    if (this.closed) return Promise.resolve(0);
    if (this.repairing) {
      this.repairAgain = true;
      return Promise.resolve(0);
    }
    const run = this.repairPass().catch((err: unknown) => {
      // A pass cut short (a peer went away, the node is stopping) is redone at the next change.
      this.opts.log.debug("repair failed", { err: errorText(err) });
      return 0;
    });
    this.running = run;
    return run;
  }

  /** Stops repairing and handing off, and waits for a pass under way, before the ledger closes. */
  async close(): Promise<void> {
    this.closed = true;
    await this.running;
    await this.handingOff;
  }

  private closed = false;
  private running: Promise<number> | undefined;
  private handingOff: Promise<unknown> | undefined;

  private async repairPass(): Promise<number> {
    this.repairing = true;
    let pushed = 0;
    try {
      await this.components.recovery?.done();
      do {
        if (this.closed) break;
        this.repairAgain = false;
        const pred = this.chord.predecessor();
        if (!pred) break;
        const self = this.chord.self.id;
        if (this.pendingHandoff?.id === pred.id) pushed += await this.handoffPass(pred, null);
        const keys = await this.heldKeys((k) => betweenRightIncl(pred.id, k, self));
        for (const target of this.replicaTargets()) pushed += (await this.sync(target, keys)).pushed;
        pushed += await this.sendStrays(pred.id, self);
      } while (this.repairAgain);
      return pushed;
    } finally {
      this.repairing = false;
    }
  }

  /**
   * Own records whose key this node no longer owns (the ring moved: a join, a merge after a
   * partition) go to the key's owner, so a chunk recorded on both sides of a partition ends up next
   * to its twin there, and every record reaches its rightful holders. Each record is sent once
   * per run of the node; a failed send is tried again at the next repair.
   */
  private async sendStrays(predId: string, self: string): Promise<number> {
    let pushed = 0;
    const strays: { key: string; txID: string }[] = [];
    for await (const e of this.ledger.ownEntries()) {
      if (!betweenRightIncl(predId, e.key, self) && !this.straysSent.has(e.txID)) strays.push(e);
      if (strays.length >= MAX_STRAYS_PER_PASS) break;
    }
    const byOwner = new Map<string, { owner: PeerRef; entries: HeldEntry[] }>();
    for (const e of strays) {
      if (this.closed) return pushed;
      const owner = await this.chord.lookup(e.key).then(
        (r) => r.owner,
        () => undefined,
      );
      if (!owner || owner.id === self) continue;
      const group = byOwner.get(owner.id) ?? { owner, entries: [] };
      group.entries.push({ ...e, replica: false });
      byOwner.set(owner.id, group);
    }
    for (const { owner, entries } of byOwner.values()) {
      const r = await this.sync(owner, entries);
      pushed += r.pushed;
      if (r.complete) for (const e of entries) this.straysSent.add(e.txID);
    }
    return pushed;
  }

  private readonly straysSent = new Set<string>();

  /**
   * A node joined between the old predecessor and us: the keys it now owns move to it. A handoff
   * that fails part-way (the new node was slow or briefly unreachable) is tried again at the next
   * repair, for as long as that node is still our predecessor.
   */
  handoff(newPred: PeerRef, oldPred: PeerRef | null): Promise<number> {
    if (this.closed) return Promise.resolve(0);
    const run = this.handoffPass(newPred, oldPred).catch((err: unknown) => {
      this.opts.log.debug("handoff failed", { peer: newPred.id, err: errorText(err) });
      return 0;
    });
    this.handingOff = run;
    return run;
  }

  private async handoffPass(newPred: PeerRef, oldPred: PeerRef | null): Promise<number> {
    const self = this.chord.self.id;
    if (newPred.id === self) return 0;
    if (oldPred && !betweenRightIncl(oldPred.id, newPred.id, self)) return 0;
    await this.components.recovery?.done();
    this.pendingHandoff = newPred;
    const keys = await this.heldKeys((k) => !betweenRightIncl(newPred.id, k, self));
    const { pushed, complete } = await this.sync(newPred, keys);
    if (complete && this.pendingHandoff?.id === newPred.id) this.pendingHandoff = undefined;
    return pushed;
  }

  private pendingHandoff: PeerRef | undefined;

  private replicaTargets(): PeerRef[] {
    const self = this.chord.self.id;
    const seen = new Set<string>([self]);
    const out: PeerRef[] = [];
    for (const s of this.chord.successors()) {
      if (seen.has(s.id)) continue;
      seen.add(s.id);
      out.push(s);
      if (out.length >= this.opts.replicas - 1) break;
    }
    return out;
  }

  /** Own records and replicas whose key passes `keep`: both, when a chunk is recorded twice. */
  private async heldKeys(keep: (key: string) => boolean): Promise<HeldEntry[]> {
    const out: HeldEntry[] = [];
    for await (const e of this.ledger.ownEntries()) if (keep(e.key)) out.push({ ...e, replica: false });
    for await (const d of this.ledger.replicaRecords()) {
      if (keep(d.key)) out.push({ key: d.key, txID: d.txID, replica: true });
    }
    return out;
  }

  /** Pushes the records `target` lacks; `complete` is false when a request failed part-way. */
  private async sync(target: PeerRef, held: HeldEntry[]): Promise<{ pushed: number; complete: boolean }> {
    let pushed = 0;
    try {
      for (let i = 0; i < held.length; i += KEY_BATCH) {
        const batch = held.slice(i, i + KEY_BATCH);
        const { missing } = await this.components.client.call(target, "store.have", {
          entries: batch.map(({ key, txID }) => ({ key, txID })),
        });
        if (!missing.length) continue;
        const want = new Set(missing);
        const records: RecordDoc[] = [];
        for (const e of batch) {
          if (!want.has(e.txID)) continue;
          const r = e.replica ? await this.ledger.getReplica(e.key) : await this.ledger.getByKey(e.key);
          if (r?.txID === e.txID) records.push(r);
        }
        await this.components.client.call(target, "store.replica", { records });
        pushed += records.length;
      }
    } catch (err) {
      this.opts.log.debug("sync failed", { peer: target.id, err: errorText(err) });
      return { pushed, complete: false };
    }
    return { pushed, complete: true };
  }

  /** Sends records to every target; resolves once `needed` acknowledged (or all settled). */
  private replicate(targets: PeerRef[], record: RecordDoc, needed: number): Promise<number> {
    if (targets.length === 0 || needed <= 0) {
      for (const t of targets) this.batcher.send(t, record).catch(() => undefined);
      return Promise.resolve(0);
    }
    return new Promise((resolve) => {
      let ok = 0;
      let settled = 0;
      let done = false;
      for (const t of targets) {
        this.batcher
          .send(t, record)
          .then(() => {
            ok++;
          })
          .catch((err) => this.opts.log.debug("replica failed", { peer: t.id, err: errorText(err) }))
          .finally(() => {
            settled++;
            if (!done && (ok >= needed || settled === targets.length)) {
              done = true;
              resolve(ok);
            }
          });
      }
    });
  }
}
