// CoRE resource discovery (RFC 6690, RFC 7252 §7.2): /.well-known/core lists each exposed Thing's
// TD, typed wot.thing, so a plain CoAP client can find the Things without knowing their paths.
import type { ThingEntry } from "./coap-forms.js";

export const WELL_KNOWN_CORE = [".well-known", "core"] as const;

export function linkFormat(entries: Iterable<ThingEntry>): string {
  return [...entries]
    .map(
      (e) =>
        `</${encodeURIComponent(e.path)}>;rt="wot.thing";ct=432;title="${e.thing.title.replace(/"/g, "")}"`,
    )
    .join(",");
}
