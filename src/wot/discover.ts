// Discovers a whole Flowchain network from one node: pages through that node's Thing Directory
// (/things, which lists the TDs of every live ring member) and returns each node's TD URL.
import { DIRECTORY_PATH, WELL_KNOWN_PATH } from "./http-front.js";

export interface DiscoveredThing {
  id: string;
  /** http://host:port/.well-known/wot of that node. */
  tdUrl: string;
}

export interface DiscoverOptions {
  /** TDs per page requested (the server caps it at 100). */
  pageSize?: number;
  /** Stops a misbehaving server from paging forever. */
  maxPages?: number;
  /** Deadline for each page, headers and body together, so a stalled node never hangs discovery. */
  timeoutMs?: number;
}

export const DEFAULT_DISCOVER_TIMEOUT_MS = 10_000;

/** `url`: any http(s) URL of one node (its TD URL, or just http://host:port). */
export async function discover(url: string, opts: DiscoverOptions = {}): Promise<DiscoveredThing[]> {
  const pageSize = opts.pageSize ?? 100;
  const maxPages = opts.maxPages ?? 1000;
  const timeoutMs = opts.timeoutMs ?? DEFAULT_DISCOVER_TIMEOUT_MS;
  let next: URL | undefined = new URL(`${DIRECTORY_PATH}?offset=0&limit=${pageSize}`, url);
  const found = new Map<string, DiscoveredThing>();
  const visited = new Set<string>();
  while (next !== undefined) {
    if (visited.has(next.href) || visited.size >= maxPages)
      throw new Error(`directory at ${url} pages in a loop`);
    visited.add(next.href);
    // One signal covers the body too: a server that sends headers and then stalls is cut off.
    const signal = AbortSignal.timeout(timeoutMs);
    let res: Response;
    let page: unknown;
    try {
      res = await fetch(next, { headers: { accept: "application/json" }, signal });
      if (!res.ok) throw new Error(`GET ${next.href}: HTTP ${res.status} ${await res.text()}`);
      page = (await res.json()) as unknown;
    } catch (err) {
      if (signal.aborted) throw new Error(`GET ${next.href}: no answer within ${timeoutMs} ms`);
      throw err;
    }
    if (!Array.isArray(page)) throw new Error(`GET ${next.href}: expected a JSON array of TDs`);
    for (const td of page as Record<string, unknown>[]) {
      const id = typeof td?.id === "string" ? td.id : undefined;
      const tdUrl = id === undefined ? undefined : tdUrlOf(td);
      if (id !== undefined && tdUrl !== undefined && !found.has(id)) found.set(id, { id, tdUrl });
    }
    next = nextLink(res.headers.get("link"), next);
  }
  return [...found.values()];
}

/** A node serves its TD at /.well-known/wot on the HTTP origin of its own forms. */
function tdUrlOf(td: Record<string, unknown>): string | undefined {
  for (const kind of ["properties", "actions", "events"]) {
    for (const aff of Object.values((td[kind] ?? {}) as Record<string, { forms?: { href?: string }[] }>)) {
      for (const f of aff.forms ?? []) {
        if (typeof f.href === "string" && /^https?:\/\//.test(f.href)) {
          return new URL(WELL_KNOWN_PATH, f.href).href;
        }
      }
    }
  }
  return undefined;
}

function nextLink(header: string | null, base: URL): URL | undefined {
  for (const part of (header ?? "").split(",")) {
    const m = /<([^>]*)>\s*;\s*rel="?next"?/i.exec(part);
    if (m) return new URL(m[1]!, base);
  }
  return undefined;
}
