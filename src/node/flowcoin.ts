// Flowcoin on one node: approvals it runs for endpoints, the check an owner makes before recording
// a grant, and this node's balance, recounted from the grants in the network.
import type { PeerRef } from "../chord/transport.js";
import type { Ledger } from "../ledger/ledger.js";
import type { RecordDoc } from "../ledger/record.js";
import type { ApproveResult } from "./api.js";
import {
  approve,
  checkGrant,
  checkVerifiedNotice,
  countCoins,
  FLOWCOIN_SOURCE,
  grantHolds,
  isGrant,
  type ApprovalDeps,
  type Approver,
} from "./approval.js";
import type { KeyedChunk } from "./keyed-chunk.js";
import type { BranchProofs } from "./branch-proofs.js";
import type { RingMembers } from "./members.js";
import type { PeerClient } from "./protocol/peer-client.js";
import { QUERY_MAX } from "./protocol/table.js";
import type { RingQuery } from "./ring-query.js";
import type { Router } from "./router.js";

const MAX_GRANT_PAGES = 100;

export interface FlowcoinComponents {
  selfId: string;
  ledger: Ledger;
  client: PeerClient;
  members: RingMembers;
  router: Router;
  ringQuery: RingQuery;
  lookupOwner: (key: string) => Promise<PeerRef>;
  proofs: BranchProofs;
  /** Where the balance lands, for the reliability the miner asks for. */
  standing: { coins: number };
  emitVerified: (e: { txID: string; miner: string; by?: string }) => void;
  now: () => number;
}

export class Flowcoin {
  /** Keys of grants to this node whose transaction checked out (see refresh). */
  private readonly checkedGrants = new Set<string>();
  private readonly deps: ApprovalDeps;

  constructor(private readonly c: FlowcoinComponents) {
    this.deps = {
      selfId: c.selfId,
      members: () => c.members.all(),
      client: c.client,
      localByTx: async (txID) => (await c.ledger.getByTxID(txID)) ?? (await c.ledger.getReplicaByTxID(txID)),
      inBranch: (doc, via) => c.proofs.holds(doc, via),
      find: (key) => c.router.find(key),
      storeGrant: (chunk) => c.router.route(chunk),
      // Grants carry their transaction's timestamp, so the ring's grants at that instant hold it.
      grantOf: async (doc) => {
        const r = await c.ringQuery.query({
          from: doc.timestamp,
          to: doc.timestamp,
          source: FLOWCOIN_SOURCE,
          limit: QUERY_MAX,
        });
        const grants: RecordDoc[] = r.records;
        return grants.find((g) => isGrant(g) && g.value.txID === doc.txID);
      },
      holdersOf: async (key) => c.members.holders(await c.lookupOwner(key)),
      emitVerified: (e) => c.emitVerified(e),
    };
  }

  approve(txID: string, by?: Approver): Promise<ApproveResult> {
    return approve(this.deps, txID, by);
  }

  /** Every grant record in the network (bounded: MAX_GRANT_PAGES pages). */
  private async allGrants(): Promise<RecordDoc[]> {
    const grants: RecordDoc[] = [];
    let cursor: string | undefined;
    for (let page = 0; page < MAX_GRANT_PAGES; page++) {
      const r = await this.c.ringQuery.query({
        from: 0,
        to: this.c.now() + 86_400_000,
        source: FLOWCOIN_SOURCE,
        limit: QUERY_MAX,
        ...(cursor ? { cursor } : {}),
      });
      grants.push(...r.records);
      if (!r.next) break;
      cursor = r.next;
    }
    return grants;
  }

  /** The network's grants that pay for a real, verified transaction (for the inventory's audit). */
  async validGrants(): Promise<RecordDoc[]> {
    const out: RecordDoc[] = [];
    for (const g of await this.allGrants()) {
      if (this.checkedGrants.has(g.key) || (await grantHolds(this.deps, g))) out.push(g);
    }
    return out;
  }

  /** The owner of a grant's key checks it before recording it (store.put of the Flowcoin source). */
  async checkIfGrant(chunk: KeyedChunk): Promise<void> {
    if (chunk.source === FLOWCOIN_SOURCE) await checkGrant(this.deps, chunk);
  }

  /** A holder of the record learns an approval verified it, from the grant it checks first. */
  async onVerified(e: { txID: string; miner: string; grant: RecordDoc }, from: PeerRef): Promise<void> {
    await checkVerifiedNotice(this.deps, e, [from]);
    this.c.emitVerified({ txID: e.txID, miner: e.miner, by: from.id });
    if (e.miner === this.c.selfId) void this.refresh().catch(() => undefined);
  }

  /**
   * Recounts this node's coins from the grant records in the network, counting a grant only once
   * the transaction it pays for has checked out (its own records, so the check is local and done
   * once per grant). A grant that does not check out now is tried again at the next count.
   */
  async refresh(): Promise<number> {
    const grants = await this.allGrants();
    const mine = grants.filter((g) => isGrant(g) && g.value.to === this.c.selfId);
    for (const g of mine) {
      if (!this.checkedGrants.has(g.key) && (await grantHolds(this.deps, g))) this.checkedGrants.add(g.key);
    }
    this.c.standing.coins = countCoins(
      mine.filter((g) => this.checkedGrants.has(g.key)),
      this.c.selfId,
    );
    return this.c.standing.coins;
  }
}
