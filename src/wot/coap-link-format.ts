// CoRE resource discovery (RFC 6690, RFC 7252 §7.2): /.well-known/core lists each exposed Thing's
// TD, typed wot.thing (wot.directory for a Thing Description Directory, W3C WoT Discovery
// §6.4), so a plain CoAP client can find the Things without knowing their paths. Filter queries
// (RFC 6690 §4.1) narrow the list: `?rt=wot.thing`, `?href=/t*`, a trailing `*` matching any
// value that starts with what precedes it; with several, a link must match each.
import type { ThingEntry } from "./coap-forms.js";

export const WELL_KNOWN_CORE = [".well-known", "core"] as const;
export const WELL_KNOWN_WOT = [".well-known", "wot"] as const;

interface CoreLink {
  href: string;
  attrs: Array<[name: string, value: string]>;
}

// Attributes whose value is a space-separated list; a filter matches any one of them (§4.1).
const LIST_ATTRIBUTES = new Set(["rt", "if", "rel"]);

export function isDirectory(entry: ThingEntry): boolean {
  const type = (entry.thing as { "@type"?: unknown })["@type"];
  return type === "ThingDirectory" || (Array.isArray(type) && type.includes("ThingDirectory"));
}

export function linkFormat(entries: Iterable<ThingEntry>, query: URLSearchParams): string {
  const links: CoreLink[] = [...entries].map((e) => ({
    href: `/${encodeURIComponent(e.path)}`,
    attrs: [
      ["rt", isDirectory(e) ? "wot.directory" : "wot.thing"],
      ["ct", "432"],
      ["title", e.thing.title.replace(/"/g, "")],
    ],
  }));
  // Several filter queries must all match (RFC 6690 §4.1 lets a server support more than one).
  const filters = [...query.entries()];
  return links
    .filter((l) => filters.every(([name, pattern]) => matches(l, name, pattern)))
    .map(
      (l) => `<${l.href}>` + l.attrs.map(([n, v]) => (n === "ct" ? `;${n}=${v}` : `;${n}="${v}"`)).join(""),
    )
    .join(",");
}

function matches(link: CoreLink, name: string, pattern: string): boolean {
  const test = pattern.endsWith("*")
    ? (v: string) => v.startsWith(pattern.slice(0, -1))
    : (v: string) => v === pattern;
  if (name === "href") return test(link.href);
  return link.attrs.some(
    ([n, v]) => n === name && (LIST_ATTRIBUTES.has(n) ? v.split(" ").some(test) : test(v)),
  );
}
