// CoAP messages as the raw-UDP tests write and read them: numeric codes and option numbers, one
// message type, so a test can send exactly the packet it means. coap-packet does the encoding.
import { generate, parse } from "coap-packet";
import { optionNumber } from "../../src/wot/coap-options.js";

export { uintOption } from "../../src/wot/coap-options.js";

export const CoapType = { CON: 0, NON: 1, ACK: 2, RST: 3 } as const;
export type CoapTypeValue = (typeof CoapType)[keyof typeof CoapType];

export const CoapOption = {
  Observe: 6,
  UriPath: 11,
  ContentFormat: 12,
  UriQuery: 15,
  Accept: 17,
  Block2: 23,
  Block1: 27,
  Size2: 28,
  Size1: 60,
  RequestTag: 292,
} as const;

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

export function readUint(value: Buffer): number {
  let v = 0;
  for (const b of value) v = v * 256 + b;
  return v;
}

export function encodeMessage(msg: WireMessage): Buffer {
  return generate(
    {
      code: codeString(msg.code),
      confirmable: msg.type === CoapType.CON,
      ack: msg.type === CoapType.ACK,
      reset: msg.type === CoapType.RST,
      messageId: msg.messageId,
      token: msg.token,
      options: msg.options.map((o) => ({ name: o.number, value: o.value })),
      payload: msg.payload,
    },
    // Tests send oversized messages on purpose.
    65_535,
  );
}

/** Parses a datagram; undefined for anything coap-packet cannot read. */
export function decodeMessage(buf: Buffer): WireMessage | undefined {
  try {
    const p = parse(buf);
    return {
      type: p.confirmable ? CoapType.CON : p.ack ? CoapType.ACK : p.reset ? CoapType.RST : CoapType.NON,
      code: codeNumber(p.code),
      messageId: p.messageId,
      token: p.token,
      options: p.options.map((o) => ({
        number: optionNumber(o.name),
        value: o.value,
      })),
      payload: p.payload,
    };
  } catch {
    return undefined;
  }
}
