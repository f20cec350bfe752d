// Screens every datagram before node-coap sees it. node-coap answers a datagram it cannot parse
// with a 5.00 aimed at the wrong address, treats an empty CON (a CoAP ping) as a request without a
// method, and does not know our notifications, so ACKs and RSTs for them must be taken out first.
// Requests then pass the block-wise layer.
import type { RemoteInfo } from "node:dgram";
import { generate, parse, type ParsedPacket } from "coap-packet";
import type { Logger } from "../log.js";
import { errorText } from "../util/errors.js";
import type { CoapObserveEngine } from "./coap-observe.js";
import type { CoapBlockwise } from "./coap-blockwise.js";

export interface DatagramScreenComponents {
  engine: CoapObserveEngine;
  blocks: CoapBlockwise;
  send(buf: Buffer, port: number, address: string): void;
  logger: Logger;
}

// RFC 7252 §3: token lengths 9-15 are a format error (RFC 8974's extended tokens are not spoken here).
const MAX_TOKEN_LENGTH = 8;
// Only to re-encode what was received; parse() already bounds it by the datagram.
const ANY_LENGTH = 65_535;

export class DatagramScreen {
  private readonly c: DatagramScreenComponents;

  constructor(components: DatagramScreenComponents) {
    this.c = components;
  }

  /** Passes the datagram on to `next` (node-coap) unless it is malformed, a ping, or ours to consume. */
  screen(msg: Buffer, from: RemoteInfo, next: (msg: Buffer, from: RemoteInfo) => void): void {
    try {
      const packet = wellFormed(msg);
      if (packet === undefined) return; // RFC 7252 §4.2: malformed messages are silently ignored
      if (packet.code === "0.00" && packet.confirmable) {
        // RFC 7252 §4.3: a ping is answered with a RST.
        this.c.send(
          generate({ code: "0.00", reset: true, messageId: packet.messageId }),
          from.port,
          from.address,
        );
        return;
      }
      if (this.c.engine.answer(packet, from.address, from.port)) return;
      if (packet.code.startsWith("0.") && packet.code !== "0.00") {
        // Block-wise transfers and critical options are settled before node-coap (see
        // coap-blockwise.ts); a completed upload goes on as one request.
        const passed = this.c.blocks.screen(packet, from);
        if (passed === undefined) return;
        if (passed !== packet) msg = generate(passed, ANY_LENGTH + passed.payload.length);
      }
      next(msg, from);
    } catch (err) {
      this.c.logger.warn("coap datagram dropped", { err: errorText(err) });
    }
  }
}

// coap-packet's parser is lenient: it reads a truncated option or a payload marker with no payload
// without complaint. A well-formed message is one that encodes back to exactly the bytes received.
function wellFormed(msg: Buffer): ParsedPacket | undefined {
  let packet: ParsedPacket;
  try {
    packet = parse(msg);
  } catch {
    return undefined;
  }
  if (packet.token.length > MAX_TOKEN_LENGTH) return undefined;
  const again = generate({ ...packet, options: [...packet.options] }, ANY_LENGTH);
  return again.equals(msg) ? packet : undefined;
}
