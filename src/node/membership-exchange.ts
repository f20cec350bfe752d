// A node admitted with a join token trades it for the network's membership token: the member it
// joins through hands over its own (`member.proof`), the joiner checks it against the admin key
// and keeps it in DATA/membership-token, and shows it from then on. So the join token's expiry
// ends joining with it, never the membership of a node that joined in time.
import { verifyMembershipToken } from "../net/membership.js";
import { AuthError } from "../util/errors.js";
import { writeFile } from "node:fs/promises";
import type { NetworkState } from "./bootstrap.js";
import type { NodeTransport } from "./node-transport.js";
import { PROTOCOL } from "./protocol/table.js";

export async function exchangeJoinToken(
  net: NodeTransport,
  join: string,
  network: NetworkState,
  proofFile: string,
): Promise<void> {
  const answer = PROTOCOL["member.proof"].result.safeParse(
    await net.call({ addr: join }, "member.proof", {}),
  );
  const expected = { networkId: network.networkId, adminPublicKey: network.descriptor.adminPublicKey };
  if (!answer.success || !verifyMembershipToken(answer.data, expected)) {
    throw new AuthError("bad_membership", `the member at ${join} handed over no valid membership token`);
  }
  net.setProof?.(answer.data);
  await writeFile(proofFile, answer.data + "\n", { mode: 0o600 });
  network.proof = answer.data;
}
