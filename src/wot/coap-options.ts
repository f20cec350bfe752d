// Option values that coap-packet takes as raw bytes: it encodes option headers and codes, but an
// Observe number or a Content-Format id is the caller's to turn into bytes.

// Content-Format ids (RFC 7252 §12.3, CoRE registry) for the media types this project sends.
const CONTENT_FORMATS: ReadonlyMap<string, number> = new Map([
  ["text/plain", 0],
  ["application/link-format", 40],
  ["application/octet-stream", 42],
  ["application/json", 50],
  ["application/cbor", 60],
  ["application/td+json", 432],
]);

export function contentFormatId(mediaType: string): number | undefined {
  return CONTENT_FORMATS.get(mediaType.split(";")[0]!.trim().toLowerCase());
}

/** Unsigned integer option value in the fewest bytes (0 is the empty value, RFC 7252 §3.2). */
export function uintOption(value: number): Buffer {
  const bytes: number[] = [];
  for (let v = value; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return Buffer.from(bytes);
}
