// Writing replies onto node-coap's response objects, which handle piggybacked ACKs and dedup of
// retransmitted requests (answers larger than a block are cut by coap-blockwise.ts); and turning a failure into the one status
// the error table gives it, with the problem details HTTP sends for that status.
import * as coap from "coap";
import type { OptionName } from "coap-packet";
import type { Logger } from "../log.js";
import { errorText } from "../util/errors.js";
import { COAP_PROBLEM_CONTENT_TYPE, coapProblemPayload, errorStatus } from "./error-status.js";
import { contentFormatId } from "./coap-options.js";
import type { CoapBlockwise } from "./coap-blockwise.js";

export type CoapResponse = coap.OutgoingMessage | coap.ObserveWriteStream;

/** One request and its response, and what cuts an answer into blocks. */
export interface CoapExchange {
  req: coap.IncomingMessage;
  res: CoapResponse;
  blocks: CoapBlockwise;
}

/** A refusal decided by the CoAP layer itself (method, media type, path), with its exact code. */
export class CoapReplyError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/**
 * RFC 7252 §5.10.4: a request whose Accept names another Content-Format than the one the
 * representation has is refused with 4.06, not answered in the wrong format.
 */
export function assertAcceptable(req: coap.IncomingMessage, mediaType: string, what: string): void {
  const accept = req.headers.Accept;
  if (accept === undefined) return;
  const have = contentFormatId(mediaType);
  const wanted = typeof accept === "number" ? accept : contentFormatId(String(accept));
  if (wanted !== undefined && wanted === have) return;
  throw new CoapReplyError(
    "4.06",
    `${what} is available as ${mediaType}${have === undefined ? "" : ` (${have})`} only`,
  );
}

// node-coap's own block-wise sending (OutMessage.end) is bypassed: see coap-blockwise.ts.
const sendWhole = coap.OutgoingMessage.prototype.end;

export function reply(ex: CoapExchange, code: string, payload?: Buffer, mediaType?: string): void {
  const { req, res } = ex;
  const cf = mediaType === undefined ? undefined : contentFormatId(mediaType);
  const block1 = ex.blocks.takeFinalBlock1(req.rsinfo, req._packet.messageId);
  if (block1 !== undefined) res.setOption("Block1", block1);
  if (res instanceof coap.ObserveWriteStream) {
    // The request asked to observe, but this reply does not start an observation (an error,
    // or a resource that cannot be observed): RFC 7641 §4.2 says it must carry no Observe
    // option, and ObserveWriteStream.write() would add one, so send the packet directly and
    // mark the stream as used so end() sends nothing more.
    if (cf !== undefined) res.setOption("Content-Format", cf);
    res.statusCode = code;
    res._doSend(payload);
    res._counter = 1;
    res.end();
    return;
  }
  const part =
    payload === undefined
      ? undefined
      : ex.blocks.blockOf(req._packet, req.rsinfo, { code, payload, contentFormat: cf });
  if (part === undefined) {
    if (cf !== undefined) res.setOption("Content-Format", cf);
    res.statusCode = code;
    res.code = code;
    sendWhole.call(res, payload);
    return;
  }
  for (const o of part.options) res.setOption(o.name, o.value);
  res.statusCode = part.code;
  res.code = part.code;
  sendWhole.call(res, part.payload);
}

/**
 * The 2.05 that starts an observation; node-coap stamps its Observe option. A representation
 * larger than the block the request asked for (or than 1024 bytes) goes as its first block, the
 * rest kept for the client's follow-up GETs (RFC 7959 §2.6).
 */
export function replyObserve(ex: CoapExchange, payload: Buffer, mediaType: string | undefined): void {
  const res = ex.res as coap.ObserveWriteStream;
  const cf = mediaType === undefined ? undefined : contentFormatId(mediaType);
  const part = ex.blocks.blockOf(ex.req._packet, ex.req.rsinfo, { code: "2.05", payload, contentFormat: cf });
  if (part !== undefined) {
    for (const o of part.options) res.setOption(o.name as OptionName, o.value);
    res.statusCode = part.code;
    res.write(part.payload);
    res.end();
    return;
  }
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

export function replyFailure(ex: CoapExchange, err: unknown, url: string, log: Logger): void {
  const res = ex.res;
  try {
    if (err instanceof CoapReplyError) return replyError(ex, err.code, err.message);
    const status = errorStatus(err);
    if (status.kind === "internal") log.warn("coap handler failed", { url, err: errorText(err) });
    // RFC 7252 §5.9.3.4: on 5.03, Max-Age says when to try again.
    if (status.retryAfterSeconds !== undefined) res.setOption("Max-Age", status.retryAfterSeconds);
    replyError(ex, status.coap, status.message);
  } catch (e) {
    log.debug("coap error reply failed", { err: errorText(e) });
  }
}

function replyError(ex: CoapExchange, code: string, message: string): void {
  reply(ex, code, coapProblemPayload(code, message), COAP_PROBLEM_CONTENT_TYPE);
}
