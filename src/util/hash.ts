import { createHash } from "node:crypto";

export function sha256(data: string | Uint8Array): Buffer {
  return createHash("sha256").update(data).digest();
}

export function sha256Hex(data: string | Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

/** The paper's double SHA-256, as lowercase hex. */
export function doubleSha256Hex(data: string | Uint8Array): string {
  return createHash("sha256").update(sha256(data)).digest("hex");
}
