// flowcoin.*: holders of a record learn that an approval verified it.
import type { Handlers } from "../protocol/serve.js";
import type { NodeParts } from "./parts.js";

export function flowcoinHandlers(p: NodeParts): Pick<Handlers, "flowcoin.verified"> {
  return {
    "flowcoin.verified": async (e, from) => {
      await p.flowcoin.onVerified(e, from);
      return true as const;
    },
  };
}
