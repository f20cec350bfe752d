import type { OptionName } from "coap-packet";

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

// coap-packet names the options it knows when parsing (and gives others as numbers).
const OPTION_NUMBERS: Record<OptionName, number> = {
  "If-Match": 1,
  "Uri-Host": 3,
  ETag: 4,
  "If-None-Match": 5,
  Observe: 6,
  "Uri-Port": 7,
  "Location-Path": 8,
  OSCORE: 9,
  "Uri-Path": 11,
  "Content-Format": 12,
  "Max-Age": 14,
  "Uri-Query": 15,
  "Hop-Limit": 16,
  Accept: 17,
  "Q-Block1": 19,
  "Location-Query": 20,
  Block2: 23,
  Block1: 27,
  Size2: 28,
  "Q-Block2": 31,
  "Proxy-Uri": 35,
  "Proxy-Scheme": 39,
  Size1: 60,
  "No-Response": 258,
  "OCF-Accept-Content-Format-Version": 2049,
  "OCF-Content-Format-Version": 2053,
};

export function optionNumber(name: string | number): number {
  return typeof name === "number" ? name : (OPTION_NUMBERS[name as OptionName] ?? Number(name));
}

export function contentFormatId(mediaType: string): number | undefined {
  return CONTENT_FORMATS.get(mediaType.split(";")[0]!.trim().toLowerCase());
}

/** Unsigned integer option value in the fewest bytes (0 is the empty value, RFC 7252 §3.2). */
export function uintOption(value: number): Buffer {
  const bytes: number[] = [];
  for (let v = value; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return Buffer.from(bytes);
}
