// Block-wise transfers (RFC 7959) and the option rules every request meets first (RFC 7252
// §5.4.1), done here rather than by node-coap's server: node-coap keeps a POST's answer only
// for follow-ups with the same token (libcoap changes it every block) and without the
// Content-Format, reads a Block2 of SZX 0 as block size 0, and keeps collecting Block1 uploads
// with no limit. Runs in the datagram screen, before node-coap sees a request:
// - an unknown critical option gets 4.02 (5.05 for the proxy options);
// - Block1 blocks are collected here (bounded per upload, in total and in time), answered with
//   2.31, and the assembled request is handed on as if it had come whole;
// - a Block2 follow-up is answered from the kept answer of its request.
// Answers larger than one block are cut into blocks by respond(), called by the reply path.
import { createHash, randomInt } from "node:crypto";
import { generate, type ParsedPacket } from "coap-packet";
import { optionNumber, uintOption } from "./coap-options.js";
import { coapProblemPayload } from "./error-status.js";

export interface BlockwiseComponents {
  send(buf: Buffer, port: number, address: string): void;
}

export interface BlockwiseInit {
  /** Largest request body accepted (assembled Block1 upload); beyond it 4.13. */
  maxBodyBytes: number;
  /** Bytes of unfinished uploads kept over all clients; beyond it new blocks get 5.03. */
  maxPendingUploadBytes: number;
  /** An upload whose next block does not come within this time is dropped. */
  uploadTimeoutMs: number;
  /** Bytes of answers kept for their Block2 follow-ups; the oldest go first. */
  maxKeptAnswerBytes: number;
  /** How long an answer is kept for its follow-ups. */
  answerTtlMs: number;
}

export interface Peer {
  address: string;
  port: number;
}

/** The parts of a parsed request this module reads (coap-packet's and node-coap's shapes). */
export interface RequestLike {
  code?: string;
  options?: ReadonlyArray<{ name: string | number; value: Buffer }>;
}

export interface Block {
  num: number;
  more: boolean;
  szx: number;
  size: number;
}

/** The parts of an answer a block of it carries. */
export interface Answer {
  code: string;
  payload: Buffer;
  contentFormat: number | undefined;
  /** For an observe notification cut into blocks: its sequence number, repeated on follow-ups
   * that carry Observe (node-coap's agent does, and drops a block it cannot order). */
  observe?: number;
  /** Called when its last block has been sent to a follow-up. */
  onLastBlock?: () => void;
}

interface KeptAnswer extends Answer {
  etag: Buffer;
  bytes: number;
  expires: number;
}

interface Upload {
  parts: Buffer[];
  received: number;
  size: number;
  expires: number;
}

// RFC 7252 §4.6: a message should fit 1152 bytes, so blocks carry at most 1024 bytes (SZX 6).
export const MAX_SZX = 6;
export const BLOCK_SIZE = 1024;

// Critical options (odd numbers) this server acts on; any other critical option in a request
// means the client needs something we would ignore.
const UNDERSTOOD_CRITICAL = new Set([3, 7, 11, 15, 17, 23, 27]);
const PROXY_OPTIONS = new Set([35, 39]);
const OPTION = { Observe: 6, Block2: 23, Block1: 27, Size1: 60, RequestTag: 292 } as const;

function option(packet: RequestLike, n: number): Buffer | undefined {
  return packet.options?.find((o) => optionNumber(o.name) === n)?.value;
}

function readUint(value: Buffer): number {
  let v = 0;
  for (const b of value) v = v * 256 + b;
  return v;
}

/** An RFC 7959 block option; undefined when malformed (over 3 bytes) or SZX 7 (reserved, BERT). */
export function parseBlock(value: Buffer): Block | undefined {
  if (value.length > 3) return undefined;
  const v = readUint(value);
  const szx = v & 7;
  if (szx === 7) return undefined;
  return { num: Math.floor(v / 16), more: (v & 8) !== 0, szx, size: 1 << (szx + 4) };
}

export function blockOption(num: number, more: boolean, szx: number): Buffer {
  return uintOption(num * 16 + (more ? 8 : 0) + szx);
}

/** The block a request asks for with its Block2 option, if it has one. */
export function requestedBlock(packet: RequestLike): Block | "malformed" | undefined {
  const value = option(packet, OPTION.Block2);
  if (value === undefined) return undefined;
  return parseBlock(value) ?? "malformed";
}

/** The SZX a request's Block2 option asks for, when it has a well-formed one. */
export function blockSzxOf(packet: RequestLike): number | undefined {
  const asked = requestedBlock(packet);
  return asked === undefined || asked === "malformed" ? undefined : asked.szx;
}

/** What identifies a request across its blocks: peer, method, URI and Request-Tag (not the
 * token, which libcoap changes on every block). */
export function exchangeKey(packet: RequestLike, from: Peer): string {
  const parts: string[] = [`${from.address}|${from.port}|${packet.code}`];
  for (const o of packet.options ?? []) {
    const n = optionNumber(o.name);
    if (n === 11 || n === 15 || n === OPTION.RequestTag) parts.push(`${n}=${o.value.toString("hex")}`);
  }
  return parts.join("|");
}

export class CoapBlockwise {
  private readonly send: BlockwiseComponents["send"];
  private readonly init: BlockwiseInit;
  private readonly uploads = new Map<string, Upload>();
  private readonly answers = new Map<string, KeptAnswer>();
  /** Block1 option of an upload's last block, echoed on its final response (RFC 7959 §2.3). */
  private readonly finalBlock1 = new Map<string, { value: Buffer; expires: number }>();
  private pendingUploadBytes = 0;
  private keptAnswerBytes = 0;
  private messageId = randomInt(0, 0x10000);
  private sweeper?: NodeJS.Timeout;

  constructor(components: BlockwiseComponents, init: BlockwiseInit) {
    this.send = components.send;
    this.init = init;
  }

  start(): void {
    this.sweeper ??= setInterval(() => this.sweep(Date.now()), 1000).unref();
  }

  stop(): void {
    clearInterval(this.sweeper);
    this.sweeper = undefined;
    this.uploads.clear();
    this.answers.clear();
    this.finalBlock1.clear();
    this.pendingUploadBytes = 0;
    this.keptAnswerBytes = 0;
  }

  /** Bytes held by unfinished uploads. */
  pendingUploadByteCount(): number {
    return this.pendingUploadBytes;
  }

  /**
   * A request on its way to node-coap: returns it (rewritten when an upload completed), or
   * undefined when it has been answered here.
   */
  screen(packet: ParsedPacket, from: Peer): ParsedPacket | undefined {
    for (const o of packet.options) {
      const n = optionNumber(o.name);
      if (n % 2 === 0 || UNDERSTOOD_CRITICAL.has(n)) continue;
      if (PROXY_OPTIONS.has(n)) return this.refuse(packet, from, "5.05", "this server is no proxy");
      return this.refuse(packet, from, "4.02", `critical option ${n} is not supported`);
    }
    const block1 = option(packet, OPTION.Block1);
    if (block1 !== undefined) return this.upload(packet, from, block1);
    const block2 = requestedBlock(packet);
    if (block2 === "malformed") return this.refuse(packet, from, "4.00", "malformed Block2 option");
    if (block2 !== undefined && block2.num > 0) return this.followUp(packet, from, block2);
    return packet;
  }

  /** The Block1 option to echo on the response to a request whose upload this completed. */
  takeFinalBlock1(from: Peer, messageId: number | undefined): Buffer | undefined {
    const key = `${from.address}|${from.port}|${messageId}`;
    const found = this.finalBlock1.get(key);
    this.finalBlock1.delete(key);
    return found?.value;
  }

  /**
   * The block of an answer that a request asked for (block 0 when it asked for none), keeping
   * the answer for the follow-ups when there is more. Undefined when the answer fits one
   * message and no block was asked for: it is sent whole.
   */
  blockOf(
    request: RequestLike,
    from: Peer,
    answer: Answer,
  ): { code: string; options: Array<{ name: string; value: Buffer }>; payload: Buffer } | undefined {
    const asked = requestedBlock(request);
    if (asked === "malformed") return this.errorBlock("4.00", "malformed Block2 option");
    if (asked === undefined && answer.payload.length <= BLOCK_SIZE) return undefined;
    const block = asked ?? { num: 0, more: false, szx: MAX_SZX, size: BLOCK_SIZE };
    const kept = this.keep(exchangeKey(request, from), answer);
    return this.cut(kept, block);
  }

  /** Keeps an answer (e.g. a notification sent as its first block) for follow-ups from `key`,
   * when it is larger than one block of SZX `szx`. */
  keep(key: string, answer: Answer, szx = MAX_SZX): KeptAnswer {
    const old = this.answers.get(key);
    if (old !== undefined) {
      this.answers.delete(key);
      this.keptAnswerBytes -= old.bytes;
    }
    const kept: KeptAnswer = {
      ...answer,
      etag: createHash("sha256").update(answer.payload).digest().subarray(0, 8),
      bytes: answer.payload.length + 64,
      expires: Date.now() + this.init.answerTtlMs,
    };
    if (answer.payload.length <= 1 << (szx + 4)) return kept;
    this.answers.set(key, kept);
    this.keptAnswerBytes += kept.bytes;
    for (const [k, a] of this.answers) {
      if (this.keptAnswerBytes <= this.init.maxKeptAnswerBytes) break;
      this.answers.delete(k);
      this.keptAnswerBytes -= a.bytes;
    }
    return kept;
  }

  /** The first block of an answer larger than one block, for a notification (RFC 7959 §2.6). */
  firstBlock(
    kept: Answer & { etag?: Buffer },
    szx = MAX_SZX,
  ): {
    options: Array<{ name: string; value: Buffer }>;
    payload: Buffer;
  } {
    return this.cut(kept as KeptAnswer, { num: 0, more: false, szx, size: 1 << (szx + 4) });
  }

  private cut(
    kept: KeptAnswer,
    block: Block,
  ): { code: string; options: Array<{ name: string; value: Buffer }>; payload: Buffer } {
    const { num, szx, size } = block;
    const start = num * size;
    if (start > 0 && start >= kept.payload.length) {
      return this.errorBlock("4.02", `block ${num} is beyond the ${kept.payload.length}-byte answer`);
    }
    const payload = kept.payload.subarray(start, start + size);
    const more = start + size < kept.payload.length;
    const options = [{ name: "ETag", value: kept.etag }];
    if (kept.contentFormat !== undefined)
      options.push({ name: "Content-Format", value: uintOption(kept.contentFormat) });
    options.push({ name: "Block2", value: blockOption(num, more, szx) });
    options.push({ name: "Size2", value: uintOption(kept.payload.length) });
    return { code: kept.code, options, payload };
  }

  private errorBlock(
    code: string,
    message: string,
  ): { code: string; options: Array<{ name: string; value: Buffer }>; payload: Buffer } {
    return {
      code,
      options: [{ name: "Content-Format", value: uintOption(50) }],
      payload: coapProblemPayload(code, message),
    };
  }

  private followUp(packet: ParsedPacket, from: Peer, block: Block): ParsedPacket | undefined {
    const key = exchangeKey(packet, from);
    const kept = this.answers.get(key);
    if (kept === undefined || kept.expires < Date.now()) {
      // A GET is answered afresh; any other method's answer cannot be made again without the
      // request body, which follow-ups do not carry.
      if (packet.code === "0.01") return packet;
      return this.refuse(packet, from, "4.08", "the answer this block belongs to is no longer kept");
    }
    // A transfer in progress keeps its answer however long the whole of it takes.
    kept.expires = Date.now() + this.init.answerTtlMs;
    const part = this.cut(kept, block);
    if (kept.observe !== undefined && option(packet, OPTION.Observe) !== undefined) {
      part.options.unshift({ name: "Observe", value: uintOption(kept.observe) });
    }
    this.reply(packet, from, part.code, part.options, part.payload);
    // Only after the last block has gone may the next notification (and its first block) follow.
    if (part.options.some((o) => o.name === "Block2" && (readUint(o.value) & 8) === 0)) kept.onLastBlock?.();
    return undefined;
  }

  private upload(packet: ParsedPacket, from: Peer, value: Buffer): ParsedPacket | undefined {
    const block = parseBlock(value);
    if (block === undefined) return this.refuse(packet, from, "4.00", "malformed Block1 option");
    const key = exchangeKey(packet, from);
    const max = this.init.maxBodyBytes;
    const size1 = option(packet, OPTION.Size1);
    const offset = block.num * block.size;
    if ((size1 !== undefined && readUint(size1) > max) || offset + packet.payload.length > max) {
      this.drop(key);
      return this.refuse(packet, from, "4.13", `the request body is limited to ${max} bytes`, [
        { name: "Size1", value: uintOption(max) },
      ]);
    }
    if (block.more && packet.payload.length !== block.size) {
      this.drop(key);
      return this.refuse(packet, from, "4.00", `block ${block.num} must carry ${block.size} bytes`);
    }
    const now = Date.now();
    let upload = this.uploads.get(key);
    if (upload !== undefined && upload.expires < now) {
      this.drop(key);
      upload = undefined;
    }
    if (block.num === 0) {
      this.drop(key);
      upload = { parts: [], received: 0, size: block.size, expires: 0 };
      this.uploads.set(key, upload);
    } else if (upload === undefined || block.size !== upload.size || offset > upload.received) {
      this.drop(key);
      return this.refuse(packet, from, "4.08", `block ${block.num} does not continue an upload`);
    }
    if (offset < upload.received) {
      // A block sent again (its 2.31 was lost): answer it again, keep nothing twice.
      if (block.more) this.reply(packet, from, "2.31", [{ name: "Block1", value: value }]);
      else this.refuse(packet, from, "4.08", `block ${block.num} was received already`);
      return undefined;
    }
    if (block.more && this.pendingUploadBytes + packet.payload.length > this.init.maxPendingUploadBytes) {
      this.drop(key);
      return this.refuse(packet, from, "5.03", "too many unfinished uploads", [
        { name: "Max-Age", value: uintOption(Math.ceil(this.init.uploadTimeoutMs / 1000)) },
      ]);
    }
    upload.parts.push(Buffer.from(packet.payload));
    upload.received += packet.payload.length;
    upload.expires = now + this.init.uploadTimeoutMs;
    this.pendingUploadBytes += packet.payload.length;
    if (block.more) {
      this.reply(packet, from, "2.31", [{ name: "Block1", value: blockOption(block.num, true, block.szx) }]);
      return undefined;
    }
    const payload = Buffer.concat(upload.parts);
    this.drop(key);
    this.finalBlock1.set(`${from.address}|${from.port}|${packet.messageId}`, {
      value: blockOption(block.num, false, block.szx),
      expires: now + this.init.uploadTimeoutMs,
    });
    return {
      ...packet,
      options: packet.options.filter((o) => {
        const n = optionNumber(o.name);
        return n !== OPTION.Block1 && n !== OPTION.Size1;
      }),
      payload,
    };
  }

  private drop(key: string): void {
    const upload = this.uploads.get(key);
    if (upload === undefined) return;
    this.uploads.delete(key);
    this.pendingUploadBytes -= upload.received;
  }

  private sweep(now: number): void {
    for (const [key, u] of this.uploads) if (u.expires < now) this.drop(key);
    for (const [key, a] of this.answers) {
      if (a.expires >= now) continue;
      this.answers.delete(key);
      this.keptAnswerBytes -= a.bytes;
    }
    for (const [key, f] of this.finalBlock1) if (f.expires < now) this.finalBlock1.delete(key);
  }

  private refuse(
    packet: ParsedPacket,
    from: Peer,
    code: string,
    message: string,
    extra: Array<{ name: string; value: Buffer }> = [],
  ): undefined {
    this.reply(
      packet,
      from,
      code,
      [...extra, { name: "Content-Format", value: uintOption(50) }],
      coapProblemPayload(code, message),
    );
    return undefined;
  }

  /** A response sent from here: piggybacked on the ACK of a CON request, NON otherwise. */
  private reply(
    packet: ParsedPacket,
    from: Peer,
    code: string,
    options: Array<{ name: string; value: Buffer }>,
    payload: Buffer = Buffer.alloc(0),
  ): void {
    const con = packet.confirmable === true;
    if (!con) this.messageId = (this.messageId + 1) & 0xffff;
    const ordered = [...options].sort((a, b) => optionNumber(a.name) - optionNumber(b.name));
    const buf = generate(
      {
        code,
        ack: con,
        confirmable: false,
        messageId: con ? packet.messageId : this.messageId,
        token: packet.token,
        options: ordered,
        payload,
      },
      65_507,
    );
    this.send(buf, from.port, from.address);
  }
}
