// node.*: what any member (or admitted tool) may ask of this node as an endpoint would.
import { AuthError } from "../../util/errors.js";
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
  | "node.branch"
  | "node.inventory"
>;

export function nodeHandlers(p: NodeParts): NodeHandlers {
  return {
    "node.info": () => ({ id: p.api.id, addr: p.addr(), td: p.things.own ?? null }),
    "node.put": (params) => p.api.put(params),
    "node.get": ({ key }) => p.router.get(key),
    "node.ring": () => p.api.ring(),
    "node.approve": ({ txID }) => p.flowcoin.approve(txID),
    "node.balance": () => p.api.balance(),
    "node.branch": () => p.api.branch(),
    "node.inventory": ({ credential }) => {
      if (!p.api.isAdmin(credential)) {
        throw new AuthError("admin_only", "node.inventory needs the admin credential");
      }
      return p.api.inventory();
    },
  };
}
