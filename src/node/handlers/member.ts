// member.*: the admin's decisions about membership, as they spread through the ring.
import type { Handlers } from "../protocol/serve.js";
import type { NodeParts } from "./parts.js";

export function memberHandlers(p: NodeParts): Pick<Handlers, "member.revoke"> {
  return {
    "member.revoke": ({ revocation }) => p.revoke(revocation),
  };
}
