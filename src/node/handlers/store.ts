// store.*: the data placement methods members call on each other (owner writes, replicas, reads).
import { ConflictError, InputError } from "../../util/errors.js";
import type { Handlers } from "../protocol/serve.js";
import { keyedChunk } from "../keyed-chunk.js";
import type { NodeParts } from "./parts.js";

type StoreHandlers = Pick<
  Handlers,
  "store.put" | "store.replica" | "store.have" | "store.get" | "store.query" | "store.byTx"
>;

export function storeHandlers(p: NodeParts): StoreHandlers {
  return {
    "store.put": async (params) => {
      // Recomputed, never taken from the sender: the key decides who owns the chunk.
      const chunk = keyedChunk(params);
      if (params.key !== undefined && params.key !== chunk.key) {
        throw new InputError("bad_key", "key is not the double SHA-256 of the chunk");
      }
      if (!p.chord.isResponsibleFor(chunk.key)) {
        // Not an InputError: the caller's routing is stale, not its data, so it retries.
        throw new ConflictError("not_owner", "this node does not own the key");
      }
      await p.flowcoin.checkIfGrant(chunk);
      return p.router.storeAsOwner(chunk);
    },
    "store.replica": ({ records }, from) => p.placement.acceptReplicas(records, [from]),
    "store.have": ({ entries }) => p.placement.missing(entries),
    "store.get": async ({ key }) => (await p.placement.find(key)) ?? null,
    "store.query": (q) => p.ringQuery.localPage(q),
    "store.byTx": async ({ txID }) =>
      (await p.ledger.getByTxID(txID)) ?? (await p.ledger.getReplicaByTxID(txID)) ?? null,
  };
}
