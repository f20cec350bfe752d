// Every node-level peer handler, by namespace; the protocol table (../protocol/table.ts) is the
// contract they implement.
import type { Handlers } from "../protocol/serve.js";
import { flowcoinHandlers } from "./flowcoin.js";
import { ledgerHandlers } from "./ledger.js";
import { memberHandlers } from "./member.js";
import { nodeHandlers } from "./node.js";
import type { NodeParts } from "./parts.js";
import { storeHandlers } from "./store.js";

export type { NodeParts } from "./parts.js";

export function handlers(p: NodeParts): Handlers {
  return {
    ...nodeHandlers(p),
    ...storeHandlers(p),
    ...ledgerHandlers(p),
    ...flowcoinHandlers(p),
    ...memberHandlers(p),
  };
}
