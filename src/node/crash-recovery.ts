// After an unclean shutdown (kill -9, power loss), settles the records this node wrote last.
//
// An owner killed after its record was durable but before any copy or answer left it comes back
// holding a record nobody was told about. Meanwhile the caller's retry found no trace of it and
// the next owner recorded the chunk: two branches hold it. A put is acknowledged only with w
// copies, so a record of ours that no holder has a copy of was never acknowledged; if another
// miner's record of the same chunk exists, that one is what the network answered with, and ours
// is withdrawn (Ledger.withdraw: a signed notice, the record stays in its block).
//
// Until the check is done, repair must not copy those records out (a copy would make them look
// acknowledged) and a put of one of their chunks waits (it would acknowledge ours).
import type { PeerRef } from "../chord/transport.js";
import type { Ledger } from "../ledger/ledger.js";
import type { RecordDoc } from "../ledger/record.js";
import type { Logger } from "../log.js";
import { errorText } from "../util/errors.js";
import type { PeerClient } from "./protocol/peer-client.js";
import { twinProblem } from "../ledger/withdrawal.js";

export interface CrashRecoveryInit {
  /** How far before the head block's time records may still have been waiting for their copies. */
  windowMs: number;
  /** Gives up after this long: the records not settled by then stay as they are. */
  deadlineMs: number;
  /** Other holders asked per record. */
  holders: number;
}

export const CRASH_RECOVERY_DEFAULTS: CrashRecoveryInit = {
  windowMs: 60_000,
  deadlineMs: 30_000,
  holders: 3,
};

export class CrashRecovery {
  private readonly pending = new Map<string, RecordDoc>();
  private settled: Promise<void> = Promise.resolve();
  private release: () => void = () => {};
  private stopped = false;
  withdrawn = 0;

  constructor(
    private readonly c: {
      ledger: Pick<Ledger, "uncleanStart" | "head" | "recentOwnRecords" | "getReplica" | "withdraw">;
      client: Pick<PeerClient, "tryCall">;
      /** The successors that keep copies of this node's keys (self excluded). */
      holders: () => Promise<PeerRef[]>;
      /** Stores another miner's record as a replica once it is proven in that miner's branch (placement). */
      acceptTwin: (doc: RecordDoc, via: PeerRef[]) => Promise<unknown>;
      log: Logger;
    },
    private readonly init: CrashRecoveryInit = CRASH_RECOVERY_DEFAULTS,
  ) {}

  /** Before the node serves anything: which of its records may be unacknowledged. */
  async load(): Promise<void> {
    if (!this.c.ledger.uncleanStart) return;
    const since = this.c.ledger.head().timestamp - this.init.windowMs;
    for (const doc of await this.c.ledger.recentOwnRecords(since)) this.pending.set(doc.key, doc);
    if (this.pending.size === 0) return;
    this.settled = new Promise<void>((resolve) => (this.release = resolve));
    this.c.log.info("checking records written before the unclean shutdown", { records: this.pending.size });
  }

  /** Resolves when a put of `key` may go ahead. */
  ready(key: string): Promise<void> {
    return this.pending.has(key) ? this.settled : Promise.resolve();
  }

  /** Resolves when repair may copy this node's records out. */
  done(): Promise<void> {
    return this.settled;
  }

  /** The node is stopping: whatever is not settled stays as it is. */
  stop(): void {
    this.stopped = true;
    this.release();
  }

  /** Once the node is in the ring: checks every pending record, then opens the gates. */
  async run(): Promise<void> {
    if (this.pending.size === 0 || this.stopped) return;
    const deadline = Date.now() + this.init.deadlineMs;
    try {
      const holders = (await this.c.holders()).slice(0, this.init.holders);
      if (holders.length > 0) {
        const docs = [...this.pending.values()];
        let next = 0;
        const worker = async () => {
          while (next < docs.length && Date.now() < deadline && !this.stopped)
            await this.settle(docs[next++]!, holders);
        };
        await Promise.all(Array.from({ length: 8 }, worker));
      }
    } catch (err) {
      this.c.log.warn("crash recovery cut short", { err: errorText(err) });
    } finally {
      this.c.log.info("records written before the unclean shutdown checked", {
        records: this.pending.size,
        withdrawn: this.withdrawn,
      });
      this.pending.clear();
      this.release();
    }
  }

  private async settle(doc: RecordDoc, holders: PeerRef[]): Promise<void> {
    const copies = await Promise.all(
      holders.map((h) => this.c.client.tryCall(h, "store.byTx", { txID: doc.txID }, undefined)),
    );
    // A holder answered with our record: it was copied, so it may have been acknowledged.
    if (copies.some((d) => d?.txID === doc.txID)) return;
    // Nobody answered at all: we cannot tell, so it stays.
    if (copies.every((d) => d === undefined)) return;
    const twin = await this.findTwin(doc, holders);
    if (!twin) return;
    try {
      // A holder's answer is a claim: the twin must be a record of its miner's branch, or a lying
      // member could have a real record withdrawn for one it made up.
      await this.c.acceptTwin(twin, holders);
      await this.c.ledger.withdraw(
        doc.txID,
        twin,
        "unacknowledged before an unclean shutdown; chunk recorded by another owner",
      );
      this.withdrawn++;
    } catch (err) {
      this.c.log.warn("withdrawal failed", { txID: doc.txID, err: errorText(err) });
    }
  }

  private async findTwin(doc: RecordDoc, holders: PeerRef[]): Promise<RecordDoc | undefined> {
    const local = await this.c.ledger.getReplica(doc.key);
    if (local && twinProblem(doc, local) === null) return local;
    for (const h of holders) {
      const other = await this.c.client.tryCall(h, "store.get", { key: doc.key }, null);
      if (other && twinProblem(doc, other) === null) return other;
    }
    return undefined;
  }
}
