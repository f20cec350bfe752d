// Answers to CoAP action requests, kept for the blockwise transfer of their later blocks. An
// action answer over one block (a proof, a query page) goes out with Block2 (RFC 7959), and a
// client fetches block 1, 2... by repeating the request with a Block2 option. node-coap serves
// those from its own cache only when the token is the same, and libcoap's client changes the
// token and sends the later requests without the payload: the action would run again on no input
// (4.00). So the answer is kept here per client endpoint and path, and a later-block request
// without a payload gets the remaining blocks of that same answer.
export interface CachedAnswer {
  payload: Buffer;
  type: string | undefined;
}

/** RFC 7252 EXCHANGE_LIFETIME, about how long a client may take to ask for the next block. */
const LIFETIME_MS = 247_000;
const MAX_ENTRIES = 256;
const MAX_BYTES = 16 * 1024 * 1024;

export class CoapAnswerCache {
  private readonly entries = new Map<string, CachedAnswer & { expires: number }>();
  private bytes = 0;

  constructor(private readonly now: () => number = Date.now) {}

  put(key: string, answer: CachedAnswer): void {
    this.drop(key);
    if (answer.payload.length > MAX_BYTES) return;
    this.entries.set(key, { ...answer, expires: this.now() + LIFETIME_MS });
    this.bytes += answer.payload.length;
    // Oldest first (Map keeps insertion order): evict until both bounds hold.
    for (const k of this.entries.keys()) {
      if (this.entries.size <= MAX_ENTRIES && this.bytes <= MAX_BYTES) break;
      this.drop(k);
    }
  }

  get(key: string): CachedAnswer | undefined {
    const e = this.entries.get(key);
    if (e === undefined) return undefined;
    if (e.expires < this.now()) {
      this.drop(key);
      return undefined;
    }
    return e;
  }

  private drop(key: string): void {
    const e = this.entries.get(key);
    if (e === undefined) return;
    this.bytes -= e.payload.length;
    this.entries.delete(key);
  }
}

/** node-coap's largest Block2 size, used when the request names none. */
export const MAX_BLOCK_SIZE = 1024;

/** The block a request asks for: number and size (block 0 of 1024 bytes without a Block2 option). */
export function requestedBlock(options: readonly { name: string | number; value: unknown }[] | undefined): {
  num: number;
  size: number;
} {
  const v = options?.find((o) => o.name === "Block2")?.value;
  if (!Buffer.isBuffer(v) || v.length === 0 || v.length > 3) return { num: 0, size: MAX_BLOCK_SIZE };
  let n = 0;
  for (const b of v) n = n * 256 + b;
  return { num: n >> 4, size: Math.min(MAX_BLOCK_SIZE, 2 ** ((n & 7) + 4)) };
}
