// member.*: the admin's decisions about membership, as they spread through the ring, and the
// membership token a node admitted with a join token trades it for.
import type { Handlers } from "../protocol/serve.js";
import type { NodeParts } from "./parts.js";

export function memberHandlers(p: NodeParts): Pick<Handlers, "member.revoke" | "member.proof"> {
  return {
    "member.proof": () => p.membershipProof(),
    "member.revoke": ({ revocation }) => p.revoke(revocation),
  };
}
