// One genesis block per network, computed from the descriptor alone so every node derives the
// same block (and so the same network id) without talking to anyone. Nobody mines or signs it.
import { EMPTY_ROOT } from "./merkle.js";
import { Block, NetworkDescriptor, ZERO_HASH, hashHeader, headerOf, makeBlock } from "./block.js";
import { canonicalJsonTrusted } from "./canonical.js";
import { InputError } from "../util/errors.js";
import { nodeIdOf } from "./identity.js";
import { HEX64 } from "../util/hex.js";

export type { NetworkDescriptor } from "./block.js";

export function checkDescriptor(desc: NetworkDescriptor): void {
  if (typeof desc !== "object" || desc === null)
    throw new InputError("bad_network", "network descriptor missing");
  if (typeof desc.name !== "string" || desc.name.length === 0 || desc.name.length > 128) {
    throw new InputError("bad_network", "network name must be a non-empty string of at most 128 chars");
  }
  if (typeof desc.adminPublicKey !== "string" || !HEX64.test(desc.adminPublicKey)) {
    throw new InputError("bad_network", "adminPublicKey must be a raw Ed25519 public key in lowercase hex");
  }
}

export function genesisBlock(desc: NetworkDescriptor): Block {
  checkDescriptor(desc);
  const header = headerOf({
    height: 0,
    prev: ZERO_HASH,
    timestamp: 0,
    miner: nodeIdOf(desc.adminPublicKey),
    target: "f".repeat(64),
    nonce: 0,
    sealedRoot: EMPTY_ROOT,
    network: { name: desc.name, adminPublicKey: desc.adminPublicKey },
  });
  const b = makeBlock(header, hashHeader(header), null);
  b.minerKey = desc.adminPublicKey;
  return b;
}

export function networkId(desc: NetworkDescriptor): string {
  return genesisBlock(desc).hash;
}

/** True when `b` is exactly the genesis block of `desc`. */
export function isGenesisOf(b: Block, desc: NetworkDescriptor): boolean {
  return canonicalJsonTrusted(b) === canonicalJsonTrusted(genesisBlock(desc));
}
