// RFC 8785 canonical JSON. The `canonicalize` library silently turns undefined/functions/symbols
// into missing keys or the literal text "undefined", and recurses forever on cycles, so every value
// is checked first: a hash or signature must never be computed over something that does not
// round-trip through JSON. Numbers: canonicalize prints them with JSON.stringify, i.e. ECMAScript's
// Number.prototype.toString, which is exactly RFC 8785 §3.2.2.3 (shortest round-trip form, "1e+21",
// "1e-7", -0 as "0"); integers within ±(2^53-1) print as their exact digits.
import canonicalizeImport from "canonicalize";
import { InputError } from "../util/errors.js";

// The package is CommonJS (module.exports = fn) but its typings declare an ES default export, which
// NodeNext resolution types as the module namespace; at runtime the default import is the function.
const canonicalize = canonicalizeImport as unknown as (v: unknown) => string | undefined;

/** Deeper nesting than this is refused rather than risking a stack overflow on hostile input. */
export const MAX_DEPTH = 64;

export interface JsonRules {
  /** Refuse numbers outside ±(2^53-1) (see assertSafeNumber). */
  safeNumbers?: boolean;
}

/**
 * Refuses a number JSON cannot carry exactly: every integer beyond ±(2^53-1) was rounded by
 * JSON.parse (9007199254740993 arrives as 9007199254740992), and every double that large is an
 * integer, so the whole range beyond is refused, 1e300 included. Non-finite numbers are refused too.
 */
export function assertSafeNumber(n: number, path: string): void {
  if (!(Math.abs(n) <= Number.MAX_SAFE_INTEGER)) {
    throw new InputError(
      "unsafe_number",
      `${path}: ${n} (as parsed) is outside ±(2^53-1) = ±${Number.MAX_SAFE_INTEGER}, where JSON numbers lose ` +
        "precision; send it as a string",
    );
  }
}

/** Throws InputError unless v is plain JSON (path names the culprit, e.g. `value.n`). */
export function assertJson(v: unknown, path = "$", rules: JsonRules = {}): void {
  walk(v, path, 0, new Set(), rules.safeNumbers === true);
}

function walk(v: unknown, path: string, depth: number, seen: Set<object>, safeNumbers: boolean): void {
  if (depth > MAX_DEPTH) throw new InputError("not_json", `${path}: nested deeper than ${MAX_DEPTH}`);
  switch (typeof v) {
    case "string":
    case "boolean":
      return;
    case "number":
      if (!Number.isFinite(v)) throw new InputError("not_json", `${path}: ${v} is not a JSON number`);
      if (safeNumbers) assertSafeNumber(v, path);
      return;
    case "object": {
      if (v === null) return;
      if (seen.has(v)) throw new InputError("not_json", `${path}: cyclic reference`);
      seen.add(v);
      if (Array.isArray(v)) {
        for (let i = 0; i < v.length; i++) {
          // Holes would silently become null.
          if (!(i in v)) throw new InputError("not_json", `${path}[${i}]: sparse array`);
          walk(v[i], `${path}[${i}]`, depth + 1, seen, safeNumbers);
        }
      } else {
        const proto = Object.getPrototypeOf(v);
        // Dates, Maps, class instances... serialise lossily (or not at all): only plain objects.
        if (proto !== Object.prototype && proto !== null) {
          throw new InputError(
            "not_json",
            `${path}: ${proto?.constructor?.name ?? "object"} is not plain JSON`,
          );
        }
        for (const k of Object.keys(v))
          walk((v as Record<string, unknown>)[k], `${path}.${k}`, depth + 1, seen, safeNumbers);
      }
      seen.delete(v);
      return;
    }
    default:
      throw new InputError("not_json", `${path}: ${typeof v} is not JSON`);
  }
}

export function canonicalJson(v: unknown): string {
  assertJson(v);
  const s = canonicalize(v);
  if (s === undefined) throw new InputError("not_json", "value is not JSON");
  return s;
}

/** For documents this module built itself (already known to be plain JSON): skips the walk. */
export function canonicalJsonTrusted(v: unknown): string {
  const s = canonicalize(v);
  if (s === undefined) throw new InputError("not_json", "value is not JSON");
  return s;
}
