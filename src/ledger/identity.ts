// A node's Ed25519 key pair. The private key never leaves the data directory (PKCS#8 PEM, mode
// 0600); the node id is SHA-256 of the raw 32-byte public key, so it is also the node's 256-bit
// position on the Chord ring.
import { createPrivateKey, generateKeyPairSync, sign, KeyObject } from "node:crypto";
import { mkdir, readFile, writeFile, chmod } from "node:fs/promises";
import { join } from "node:path";
import { nodeIdOf, privateKeyFromSeed, publicKeyHexOf, verifyEd25519 } from "../util/ed25519.js";
import { HEX64 } from "../util/hex.js";

export { publicKeyFromHex as publicKeyObject, nodeIdOf } from "../util/ed25519.js";

export class Identity {
  readonly id: string;
  readonly publicKeyHex: string;
  private readonly privateKey: KeyObject;

  private constructor(privateKey: KeyObject) {
    this.privateKey = privateKey;
    this.publicKeyHex = publicKeyHexOf(privateKey);
    this.id = nodeIdOf(this.publicKeyHex);
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
    return new Identity(privateKeyFromSeed(seed));
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

  /** The private key for a crypto thread of this same process (see signing.ts); never written out. */
  privateKeyDer(): Buffer {
    return this.privateKey.export({ format: "der", type: "pkcs8" });
  }

  sign(data: string | Uint8Array): string {
    return sign(null, typeof data === "string" ? Buffer.from(data) : data, this.privateKey).toString("hex");
  }

  static verify(publicKeyHex: string, data: string | Uint8Array, sigHex: string): boolean {
    return verifyEd25519(publicKeyHex, data, sigHex);
  }
}
