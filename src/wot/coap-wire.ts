// Minimal RFC 7252 message codec. The server sends its own Observe notifications (so it knows
// every notification's message id and can match the client's ACK or RST to the observer), and
// screens datagrams before node-coap parses them; neither needs more than this. It is also what
// the tests use to act as a raw CoAP client.

export const CoapType = { CON: 0, NON: 1, ACK: 2, RST: 3 } as const;
export type CoapTypeValue = (typeof CoapType)[keyof typeof CoapType];

export const CoapOption = {
  Observe: 6,
  UriPath: 11,
  ContentFormat: 12,
  UriQuery: 15,
  Accept: 17,
  Block2: 23,
} as const;

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

export interface WireOption {
  number: number;
  value: Buffer;
}

export interface WireMessage {
  type: CoapTypeValue;
  /** class * 32 + detail, e.g. 0.01 GET = 1, 2.05 = 69 */
  code: number;
  messageId: number;
  token: Buffer;
  options: WireOption[];
  payload: Buffer;
}

export function codeNumber(code: string): number {
  const [cls, detail] = code.split(".");
  return Number(cls) * 32 + Number(detail);
}

export function codeString(code: number): string {
  return `${code >> 5}.${String(code & 31).padStart(2, "0")}`;
}

/** Unsigned integer option value in the fewest bytes (0 is the empty value, RFC 7252 §3.2). */
export function uintOption(value: number): Buffer {
  if (value === 0) return Buffer.alloc(0);
  const bytes: number[] = [];
  let v = value;
  while (v > 0) {
    bytes.unshift(v & 0xff);
    v = Math.floor(v / 256);
  }
  return Buffer.from(bytes);
}

export function readUint(value: Buffer): number {
  let v = 0;
  for (const b of value) v = v * 256 + b;
  return v;
}

function extended(n: number): { nibble: number; ext: Buffer } {
  if (n < 13) return { nibble: n, ext: Buffer.alloc(0) };
  if (n < 269) return { nibble: 13, ext: Buffer.from([n - 13]) };
  const ext = Buffer.alloc(2);
  ext.writeUInt16BE(n - 269);
  return { nibble: 14, ext };
}

export function encodeMessage(msg: WireMessage): Buffer {
  if (msg.token.length > 8) throw new RangeError("token longer than 8 bytes");
  const header = Buffer.alloc(4);
  header[0] = (1 << 6) | (msg.type << 4) | msg.token.length;
  header[1] = msg.code;
  header.writeUInt16BE(msg.messageId & 0xffff, 2);
  const parts: Buffer[] = [header, msg.token];
  let previous = 0;
  for (const opt of [...msg.options].sort((a, b) => a.number - b.number)) {
    const delta = extended(opt.number - previous);
    const length = extended(opt.value.length);
    parts.push(Buffer.from([(delta.nibble << 4) | length.nibble]), delta.ext, length.ext, opt.value);
    previous = opt.number;
  }
  if (msg.payload.length > 0) parts.push(Buffer.from([0xff]), msg.payload);
  return Buffer.concat(parts);
}

/** Parses a datagram; returns undefined for anything that is not a well-formed CoAP message. */
export function decodeMessage(buf: Buffer): WireMessage | undefined {
  if (buf.length < 4) return undefined;
  const version = buf[0]! >> 6;
  const type = ((buf[0]! >> 4) & 3) as CoapTypeValue;
  const tkl = buf[0]! & 15;
  if (version !== 1 || tkl > 8 || buf.length < 4 + tkl) return undefined;
  const code = buf[1]!;
  const messageId = buf.readUInt16BE(2);
  const token = buf.subarray(4, 4 + tkl);
  const options: WireOption[] = [];
  let pos = 4 + tkl;
  let number = 0;
  while (pos < buf.length) {
    const first = buf[pos]!;
    if (first === 0xff) {
      // A payload marker followed by nothing is a format error (RFC 7252 §3).
      if (pos + 1 >= buf.length) return undefined;
      return { type, code, messageId, token, options, payload: buf.subarray(pos + 1) };
    }
    pos += 1;
    const readExt = (nibble: number): number | undefined => {
      if (nibble < 13) return nibble;
      if (nibble === 13) {
        if (pos + 1 > buf.length) return undefined;
        return buf[pos++]! + 13;
      }
      if (nibble === 14) {
        if (pos + 2 > buf.length) return undefined;
        const v = buf.readUInt16BE(pos) + 269;
        pos += 2;
        return v;
      }
      return undefined; // 15 is reserved
    };
    const delta = readExt(first >> 4);
    const length = readExt(first & 15);
    if (delta === undefined || length === undefined || pos + length > buf.length) return undefined;
    number += delta;
    options.push({ number, value: buf.subarray(pos, pos + length) });
    pos += length;
  }
  return { type, code, messageId, token, options, payload: Buffer.alloc(0) };
}

export function optionValues(msg: WireMessage, number: number): Buffer[] {
  return msg.options.filter((o) => o.number === number).map((o) => o.value);
}
