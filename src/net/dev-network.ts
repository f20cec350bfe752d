// A throwaway permissioned network (fresh admin key and network id) for tests and benchmarks,
// so each of them does not re-implement minting members.
import { randomBytes } from "node:crypto";
import { createJoinToken } from "./membership.js";
import { PeerNetwork, type PeerNetworkOptions } from "./peer-network.js";
import { createKeyPairSigner, type NodeSigner } from "./signer.js";

export interface TeardownOwner {
  teardown(fn: () => unknown): void;
}

export interface DevNetwork {
  admin: NodeSigner;
  networkId: string;
  /** Options for a new member on 127.0.0.1, port 0, with a fresh key and a fresh admin-signed token. */
  memberOptions(extra?: Partial<PeerNetworkOptions>): PeerNetworkOptions;
  /** A new member, already listening; closed by `owner`'s teardown if given (an ava test), else by the caller. */
  start(extra?: Partial<PeerNetworkOptions>, owner?: TeardownOwner): Promise<PeerNetwork>;
}

export function createDevNetwork(admin: NodeSigner = createKeyPairSigner(), networkId?: string): DevNetwork {
  const id = networkId ?? randomBytes(8).toString("hex");
  const memberOptions = (extra: Partial<PeerNetworkOptions> = {}): PeerNetworkOptions => ({
    signer: createKeyPairSigner(),
    networkId: id,
    adminPublicKey: admin.publicKeyHex,
    proof: createJoinToken(admin, { networkId: id, name: "dev" }),
    host: "127.0.0.1",
    port: 0,
    ...extra,
  });
  return {
    admin,
    networkId: id,
    memberOptions,
    start: async (extra, owner) => {
      const p = new PeerNetwork(memberOptions(extra));
      owner?.teardown(() => p.close());
      try {
        await p.listen();
      } catch (err) {
        await p.close();
        throw err;
      }
      return p;
    },
  };
}
