// Identifier arithmetic on the 256-bit Chord circle. Ids travel as 64 lowercase hex chars; every
// comparison goes through BigInt so that wrap-around (the interval (a, b) with a > b) and the
// degenerate one-node ring (a === b) follow Zave's definitions instead of ad-hoc string tricks.

import { isHex64 } from "../util/hex.js";

export const ID_BITS = 256;
export const ID_HEX_LENGTH = ID_BITS / 4;
/** 2^256: the size of the circle. */
export const RING = 1n << BigInt(ID_BITS);

/** True for exactly 64 lowercase hex chars: the only id form accepted from anywhere. */
export function isId(v: unknown): v is string {
  return isHex64(v);
}

// Routing converts the same few hundred ids over and over; parsing (and validating) each once
// makes a 1024-node simulation several times faster. Bounded: cleared when it fills up.
const BIG_CACHE_MAX = 1 << 15;
const bigCache = new Map<string, bigint>();

export function toBig(hex: string): bigint {
  const hit = bigCache.get(hex);
  if (hit !== undefined) return hit;
  if (!isId(hex)) throw new RangeError(`not a 256-bit hex id: ${String(hex).slice(0, 80)}`);
  const n = BigInt("0x" + hex);
  if (bigCache.size >= BIG_CACHE_MAX) bigCache.clear();
  bigCache.set(hex, n);
  return n;
}

/** Reduces modulo 2^256 first, so callers can pass sums and differences directly. */
export function fromBig(n: bigint): string {
  const m = ((n % RING) + RING) % RING;
  return m.toString(16).padStart(ID_HEX_LENGTH, "0");
}

/** Clockwise distance from a to b: how far b lies after a (0 when equal). */
export function distance(a: string, b: string): bigint {
  return offset(toBig(a), toBig(b));
}

/** distance() for ids already in BigInt: routing's hot loops parse each id once. */
export function offset(a: bigint, b: bigint): bigint {
  return (((b - a) % RING) + RING) % RING;
}

/**
 * x strictly inside the clockwise open interval (a, b). With a === b the interval is the whole
 * circle minus a (Zave: in a one-node ring every other id lies between the node and itself).
 */
export function between(a: string, x: string, b: string): boolean {
  const A = toBig(a);
  const X = toBig(x);
  const B = toBig(b);
  if (A === B) return X !== A;
  if (A < B) return A < X && X < B;
  return X > A || X < B;
}

/** x in (a, b]. With a === b this is the whole circle: a lone node owns every key. */
export function betweenRightIncl(a: string, x: string, b: string): boolean {
  return x === b || between(a, x, b);
}

/** a + 2^i mod 2^256: the start of finger i. */
export function addPow2(hex: string, i: number): string {
  if (!Number.isInteger(i) || i < 0 || i >= ID_BITS) throw new RangeError(`finger index out of range: ${i}`);
  return fromBig(toBig(hex) + (1n << BigInt(i)));
}
