// RFC 8785 canonical JSON. The `canonicalize` library silently turns undefined/functions/symbols
// into missing keys or the literal text "undefined", and recurses forever on cycles, so every value
// is checked first: a hash or signature must never be computed over something that does not
// round-trip through JSON.
import canonicalizeImport from "canonicalize";
import { InputError } from "../util/errors.js";

// The package is CommonJS (module.exports = fn) but its typings declare an ES default export, which
// NodeNext resolution types as the module namespace; at runtime the default import is the function.
const canonicalize = canonicalizeImport as unknown as (v: unknown) => string | undefined;

/** Deeper nesting than this is refused rather than risking a stack overflow on hostile input. */
export const MAX_DEPTH = 64;

export function assertJson(v: unknown, path = "$", depth = 0, seen: Set<object> = new Set()): void {
  if (depth > MAX_DEPTH) throw new InputError("not_json", `${path}: nested deeper than ${MAX_DEPTH}`);
  switch (typeof v) {
    case "string":
    case "boolean":
      return;
    case "number":
      if (!Number.isFinite(v)) throw new InputError("not_json", `${path}: ${v} is not a JSON number`);
      return;
    case "object": {
      if (v === null) return;
      if (seen.has(v)) throw new InputError("not_json", `${path}: cyclic reference`);
      seen.add(v);
      if (Array.isArray(v)) {
        for (let i = 0; i < v.length; i++) {
          // Holes would silently become null.
          if (!(i in v)) throw new InputError("not_json", `${path}[${i}]: sparse array`);
          assertJson(v[i], `${path}[${i}]`, depth + 1, seen);
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
          assertJson((v as Record<string, unknown>)[k], `${path}.${k}`, depth + 1, seen);
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
