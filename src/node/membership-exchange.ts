// A node admitted with a join token trades it for the network's membership token: the member it
// joins through hands over its own (`member.proof`), the joiner checks it against the admin key
// and keeps it in DATA/membership-token, and shows it from then on. So the join token's expiry
// ends joining with it, never the membership of a node that joined in time.
import { writeFile } from "node:fs/promises";
import { NetError } from "../net/index.js";
import { verifyMembershipToken } from "../net/membership.js";
import { AuthError } from "../util/errors.js";
import type { NetworkState } from "./bootstrap.js";
import type { NodeTransport } from "./node-transport.js";
import { PROTOCOL } from "./protocol/table.js";
import { CALL_TIMEOUT_MS, FIRST_JOIN_PATIENCE_MS } from "./ring-entry.js";

export async function exchangeJoinToken(
  net: NodeTransport,
  join: string,
  network: NetworkState,
  proofFile: string,
): Promise<void> {
  const answer = PROTOCOL["member.proof"].result.safeParse(await askPatiently(net, join));
  const expected = { networkId: network.networkId, adminPublicKey: network.descriptor.adminPublicKey };
  if (!answer.success || !verifyMembershipToken(answer.data, expected)) {
    throw new AuthError("bad_membership", `the member at ${join} handed over no valid membership token`);
  }
  net.setProof?.(answer.data);
  await writeFile(proofFile, answer.data + "\n", { mode: 0o600 });
  network.proof = answer.data;
}

/**
 * As patient as the ring join that follows (ring-entry.ts): a busy member may take seconds to
 * finish a handshake, so an unanswered call is tried again with a longer timeout; a refusal (an
 * expired or wrong token) is final at once.
 */
async function askPatiently(net: NodeTransport, join: string): Promise<unknown> {
  const deadline = Date.now() + FIRST_JOIN_PATIENCE_MS;
  for (let round = 0; ; round++) {
    try {
      const timeoutMs = CALL_TIMEOUT_MS * 2 ** Math.min(round, 3);
      return await net.call({ addr: join }, "member.proof", {}, { timeoutMs });
    } catch (err) {
      if (!(err instanceof NetError) || Date.now() >= deadline) throw err;
    }
    await new Promise((r) => setTimeout(r, 500).unref());
  }
}
