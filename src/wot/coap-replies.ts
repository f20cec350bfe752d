// Writing replies onto node-coap's response objects, which handles piggybacked ACKs, dedup of
// retransmitted requests and Block2 for large bodies; and turning a failure into the one status
// the error table gives it.
import * as coap from "coap";
import type { Logger } from "../log.js";
import { errorText } from "../util/errors.js";
import { errorStatus } from "./error-status.js";
import { contentFormatId } from "./coap-options.js";

export type CoapResponse = coap.OutgoingMessage | coap.ObserveWriteStream;

/** A refusal decided by the CoAP layer itself (method, media type, path), with its exact code. */
export class CoapReplyError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export function reply(res: CoapResponse, code: string, payload?: Buffer, mediaType?: string): void {
  const cf = mediaType === undefined ? undefined : contentFormatId(mediaType);
  if (cf !== undefined) res.setOption("Content-Format", cf);
  res.statusCode = code;
  res.code = code;
  if (res instanceof coap.ObserveWriteStream) {
    // The request asked to observe, but this reply does not start an observation (an error,
    // or a resource that cannot be observed): RFC 7641 §4.2 says it must carry no Observe
    // option, and ObserveWriteStream.write() would add one, so send the packet directly and
    // mark the stream as used so end() sends nothing more.
    res._doSend(payload);
    res._counter = 1;
    res.end();
    return;
  }
  res.end(payload);
}

/** The 2.05 that starts an observation; node-coap stamps its Observe option. */
export function replyObserve(
  res: coap.ObserveWriteStream,
  payload: Buffer,
  mediaType: string | undefined,
): void {
  const cf = mediaType === undefined ? undefined : contentFormatId(mediaType);
  if (cf !== undefined && payload.length > 0) res.setOption("Content-Format", cf);
  res.statusCode = "2.05";
  // write() stamps Observe (1 for the first message); ending afterwards sends nothing more.
  res.write(payload);
  res.end();
}

/**
 * Answers a CON request with an empty ACK and nothing else (a NON one with nothing at all): its
 * response will be sent separately. Through node-coap, so a retransmitted request gets the ACK again.
 */
export function acknowledgeOnly(res: coap.ObserveWriteStream): void {
  if (res._request.confirmable === true) {
    res._packet.token = Buffer.alloc(0);
    res.statusCode = "0.00";
    res._doSend();
  }
  // Marks the stream as used, so end() sends nothing more.
  res._counter = 1;
  res.end();
}

export function replyFailure(res: CoapResponse, err: unknown, url: string, log: Logger): void {
  try {
    if (err instanceof CoapReplyError) return replyError(res, err.code, err.message);
    const status = errorStatus(err);
    if (status.kind === "internal") log.warn("coap handler failed", { url, err: errorText(err) });
    // RFC 7252 §5.9.3.4: on 5.03, Max-Age says when to try again.
    if (status.retryAfterSeconds !== undefined) res.setOption("Max-Age", status.retryAfterSeconds);
    replyError(res, status.coap, status.message);
  } catch (e) {
    log.debug("coap error reply failed", { err: errorText(e) });
  }
}

function replyError(res: CoapResponse, code: string, message: string): void {
  reply(res, code, Buffer.from(JSON.stringify({ error: code, message })), "application/json");
}
