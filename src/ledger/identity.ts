// A node's Ed25519 key pair. The private key never leaves the data directory (PKCS#8 PEM, mode
// 0600); the node id is SHA-256 of the raw 32-byte public key, so it is also the node's 256-bit
// position on the Chord ring.
import { createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, KeyObject } from "node:crypto";
import { mkdir, readFile, writeFile, chmod } from "node:fs/promises";
import { join } from "node:path";
import { sha256Hex } from "../util/hash.js";

// DER prefix of an Ed25519 SubjectPublicKeyInfo; the raw key is the last 32 bytes.
const SPKI_PREFIX = Buffer.from("302a300506032b6570032100", "hex");
const PKCS8_PREFIX = Buffer.from("302e020100300506032b657004220420", "hex");
const HEX64 = /^[0-9a-f]{64}$/;
const HEX128 = /^[0-9a-f]{128}$/;

// Building a KeyObject costs more than a verify; a node sees a handful of distinct keys.
const keyCache = new Map<string, KeyObject>();

export function publicKeyObject(publicKeyHex: string): KeyObject {
  let k = keyCache.get(publicKeyHex);
  if (!k) {
    k = createPublicKey({
      key: Buffer.concat([SPKI_PREFIX, Buffer.from(publicKeyHex, "hex")]),
      format: "der",
      type: "spki",
    });
    if (keyCache.size > 10_000) keyCache.clear();
    keyCache.set(publicKeyHex, k);
  }
  return k;
}

/** Node id of a raw public key given as hex. */
export function nodeIdOf(publicKeyHex: string): string {
  // Verifying a branch asks this for the same key once per record.
  if (publicKeyHex === lastKey) return lastId;
  lastId = sha256Hex(Buffer.from(publicKeyHex, "hex"));
  lastKey = publicKeyHex;
  return lastId;
}
let lastKey = "";
let lastId = "";

export class Identity {
  readonly id: string;
  readonly publicKeyHex: string;
  private readonly privateKey: KeyObject;

  private constructor(privateKey: KeyObject) {
    this.privateKey = privateKey;
    const spki = createPublicKey(privateKey).export({ format: "der", type: "spki" });
    this.publicKeyHex = spki.subarray(spki.length - 32).toString("hex");
    this.id = sha256Hex(spki.subarray(spki.length - 32));
  }

  static generate(): Identity {
    return new Identity(generateKeyPairSync("ed25519").privateKey);
  }

  /** Accepts a PKCS#8 PEM file or a raw 32-byte seed (binary or 64 hex chars). */
  static parse(content: Buffer): Identity {
    const text = content.toString("utf8").trim();
    if (text.startsWith("-----BEGIN")) return new Identity(createPrivateKey({ key: text, format: "pem" }));
    let seed: Buffer;
    if (HEX64.test(text)) seed = Buffer.from(text, "hex");
    else if (content.length === 32) seed = content;
    else throw new Error("key file is neither a PEM private key nor a raw 32-byte Ed25519 seed");
    return new Identity(
      createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, seed]), format: "der", type: "pkcs8" }),
    );
  }

  static async loadOrCreate(dir: string, file = "node.key"): Promise<Identity> {
    const path = join(dir, file);
    await mkdir(dir, { recursive: true });
    try {
      const id = Identity.parse(await readFile(path));
      // Tighten a key file someone copied in with a loose mode.
      await chmod(path, 0o600);
      return id;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
    }
    const id = Identity.generate();
    const pem = id.privateKey.export({ format: "pem", type: "pkcs8" }) as string;
    // "wx": never overwrite a key another process created in the meantime.
    await writeFile(path, pem, { mode: 0o600, flag: "wx" });
    return id;
  }

  /** The private key for a signer thread of this same process (see signer-pool.ts); never written out. */
  privateKeyDer(): Buffer {
    return this.privateKey.export({ format: "der", type: "pkcs8" });
  }

  sign(data: string | Uint8Array): string {
    return sign(null, typeof data === "string" ? Buffer.from(data) : data, this.privateKey).toString("hex");
  }

  static verify(publicKeyHex: string, data: string | Uint8Array, sigHex: string): boolean {
    if (typeof publicKeyHex !== "string" || typeof sigHex !== "string") return false;
    if (!HEX64.test(publicKeyHex) || !HEX128.test(sigHex)) return false;
    try {
      return verify(
        null,
        typeof data === "string" ? Buffer.from(data) : data,
        publicKeyObject(publicKeyHex),
        Buffer.from(sigHex, "hex"),
      );
    } catch {
      return false;
    }
  }
}
