// Piscina worker (see signing.ts): Ed25519 signing and verification in batches, by task name.
import { createPrivateKey, sign as ed25519Sign, type KeyObject } from "node:crypto";
import { Identity } from "./identity.js";

export interface SignTask {
  /** PKCS#8 DER of the signing key: a shared pool signs for several ledgers of one process. */
  key: Uint8Array;
  data: string[];
}

export interface VerifyTask {
  keys: string[];
  data: string[];
  sigs: string[];
}

// Parsing a key costs about as much as a signature; a pool serves few keys, for a long time.
const keys = new Map<string, KeyObject>();

function keyObject(der: Uint8Array): KeyObject {
  const id = Buffer.from(der).toString("base64");
  let k = keys.get(id);
  if (k === undefined) {
    k = createPrivateKey({ key: Buffer.from(der), format: "der", type: "pkcs8" });
    keys.set(id, k);
  }
  return k;
}

export function sign(task: SignTask): string[] {
  const key = keyObject(task.key);
  return task.data.map((d) => ed25519Sign(null, Buffer.from(d), key).toString("hex"));
}

/** Index of the first signature that does not verify, or -1. */
export function verify(task: VerifyTask): number {
  for (let i = 0; i < task.data.length; i++) {
    if (!Identity.verify(task.keys[i], task.data[i], task.sigs[i])) return i;
  }
  return -1;
}
