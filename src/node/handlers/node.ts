// node.*: what any member (or admitted tool) may ask of this node as an endpoint would.
import type { Handlers } from "../protocol/serve.js";
import type { NodeParts } from "./parts.js";

type NodeHandlers = Pick<
  Handlers,
  | "node.info"
  | "node.put"
  | "node.get"
  | "node.ring"
  | "node.approve"
  | "node.balance"
  | "node.inventory"
  | "node.condition"
>;

export function nodeHandlers(p: NodeParts): NodeHandlers {
  return {
    "node.info": () => ({ id: p.api.id, addr: p.addr(), td: p.things.own ?? null }),
    "node.put": (params) => p.api.put(params),
    "node.get": ({ key }) => p.router.get(key),
    "node.ring": () => p.api.ring(),
    "node.approve": ({ txID }) => p.flowcoin.approve(txID),
    "node.balance": () => p.api.balance(),
    "node.inventory": () => p.api.inventory(),
    "node.condition": async (c) => {
      await p.device.condition(c);
      return true as const;
    },
  };
}
