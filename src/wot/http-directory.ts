// Each node is a read-only Thing Description Directory of its ring (W3C WoT Discovery, "Directory
// Information Model" and the HTTP API): its own directory TD (`ThingDirectory`, the `things`
// property and `retrieveThing` action of the spec's TD template), `GET /things` (paged with
// `Link: rel="next"` and `rel="canonical"; etag`) and `GET /things/{id}`. Writes are not offered:
// the ring itself decides who is a member.
import { createHash } from "node:crypto";
import type { ServerResponse } from "node:http";
import { InputError, NotFoundError } from "../util/errors.js";
import { JSON_LD_CONTENT_TYPE, TD_CONTENT_TYPE, allowGetHead, sendJson } from "./http-replies.js";

export const DIRECTORY_PATH = "/things";
/** Where the directory's own TD is served; the node's TD links to it. */
export const DIRECTORY_TD_PATH = "/directory";
/** Without `limit`, a page holds every member up to this many (WoT.exploreDirectory reads one page). */
export const MAX_PAGE = 1000;

export type TD = Record<string, unknown>;

/** Code-point order (UTF-8 bytes compare in code-point order), as the spec asks, not localeCompare. */
export function byCodePoint(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8"));
}

function sortedById(tds: TD[]): TD[] {
  return tds
    .map((td) => ({ td, id: String(td.id) }))
    .sort((a, b) => byCodePoint(a.id, b.id))
    .map((x) => x.td);
}

/**
 * GET /things?offset=&limit=&format= -> a JSON-LD array of TDs in id order. `limit` above the
 * maximum is served as the maximum (the spec lets a server return fewer); a next page is named by
 * `Link: <...>; rel="next"`, and every page carries `Link: </things>; rel="canonical"; etag="..."`
 * naming the whole collection's version, so a client can tell when the ring changed between pages.
 */
export function serveThings(method: string, url: URL, res: ServerResponse, tds: TD[]): void {
  if (!allowGetHead(method, res)) return;
  const offset = intParam(url, "offset", 0);
  const limit = intParam(url, "limit", MAX_PAGE);
  if (offset === undefined) throw new InputError("bad_page", "offset must be an integer >= 0");
  if (limit === undefined || limit < 1) throw new InputError("bad_page", "limit must be an integer >= 1");
  const format = url.searchParams.get("format") ?? "array";
  if (format !== "array") {
    throw new InputError(
      "bad_format",
      `format=${format} is not supported; this directory serves format=array`,
    );
  }
  const all = sortedById(tds);
  const size = Math.min(limit, MAX_PAGE);
  const page = all.slice(offset, offset + size);
  const etag = collectionTag(all);
  const links = [`<${DIRECTORY_PATH}>; rel="canonical"; etag="${etag}"`];
  if (offset + size < all.length) {
    // The spec: the next link carries the same `limit` argument the client gave (if any).
    const given = url.searchParams.get("limit");
    const limitArg = given === null ? "" : `&limit=${given}`;
    links.unshift(`<${DIRECTORY_PATH}?offset=${offset + size}${limitArg}>; rel="next"`);
  }
  sendJson(method, res, 200, JSON_LD_CONTENT_TYPE, page, {
    Link: links.join(", "),
    ETag: `"${etag}"`,
    "X-Total-Count": String(all.length),
  });
}

/** GET /things/{id} -> that member's TD. */
export function serveThing(method: string, rawId: string, res: ServerResponse, tds: TD[]): void {
  if (!allowGetHead(method, res)) return;
  let id: string;
  try {
    id = decodeURIComponent(rawId);
  } catch {
    throw new InputError("bad_id", "the Thing id is not a valid percent-encoded IRI");
  }
  const td = tds.find((t) => t.id === id);
  if (td === undefined) throw new NotFoundError(`no ring member has the Thing id ${id}`, "no_thing");
  sendJson(method, res, 200, TD_CONTENT_TYPE, td);
}

function collectionTag(sorted: TD[]): string {
  return createHash("sha256").update(JSON.stringify(sorted)).digest("base64url").slice(0, 22);
}

function intParam(url: URL, name: string, dflt: number): number | undefined {
  const raw = url.searchParams.get(name);
  if (raw === null) return dflt;
  return /^\d{1,9}$/.test(raw) ? Number(raw) : undefined;
}

const DISCOVERY_NS = "https://www.w3.org/2022/wot/discovery#";

/**
 * The directory's TD, after the spec's template (directory.tm.json), read-only: `things` and
 * `retrieveThing`, plus the notification events when served. The discovery terms are inlined (the
 * published context adds nothing a reader of these terms needs), so every context here is either
 * the W3C TD context or in the document itself.
 */
export function directoryTd(origin: string, nodeId: string, notifications: boolean): TD {
  const problem = (status: number, description: string) => ({
    description,
    contentType: "application/problem+json",
    "htv:statusCodeValue": status,
  });
  const td: TD = {
    "@context": [
      "https://www.w3.org/2022/wot/td/v1.1",
      {
        discovery: DISCOVERY_NS,
        ThingDirectory: "discovery:ThingDirectory",
        ThingID: "discovery:ThingID",
      },
    ],
    "@type": "ThingDirectory",
    id: `urn:flowchain:directory:${nodeId}`,
    title: `Flowchain ring directory (node ${nodeId.slice(0, 8)})`,
    description: "The Thing Descriptions of every live member of this node's Flowchain ring (read-only).",
    base: `${origin}/`,
    securityDefinitions: { nosec_sc: { scheme: "nosec" } },
    security: "nosec_sc",
    properties: {
      things: {
        description: "Retrieve all Thing Descriptions",
        readOnly: true,
        type: "array",
        items: { type: "object" },
        uriVariables: {
          offset: { title: "Number of TDs to skip before the page", type: "integer", minimum: 0, default: 0 },
          limit: { title: "Number of TDs in a page", type: "integer", minimum: 1 },
          format: { title: "Payload format", type: "string", enum: ["array"], default: "array" },
        },
        forms: [
          {
            href: `${origin}${DIRECTORY_PATH}{?offset,limit,format}`,
            op: "readproperty",
            "htv:methodName": "GET",
            response: { description: "Success response", contentType: JSON_LD_CONTENT_TYPE },
            additionalResponses: [problem(400, "Invalid query arguments")],
          },
        ],
      },
    },
    actions: {
      retrieveThing: {
        description: "Retrieve a Thing Description",
        uriVariables: {
          id: { "@type": "ThingID", title: "Thing Description ID", type: "string", format: "iri-reference" },
        },
        output: { description: "The schema is implied by the content type", type: "object" },
        safe: true,
        idempotent: true,
        forms: [
          {
            href: `${origin}${DIRECTORY_PATH}/{id}`,
            op: "invokeaction",
            "htv:methodName": "GET",
            response: { description: "Success response", contentType: TD_CONTENT_TYPE },
            additionalResponses: [problem(404, "TD with the given id not found")],
          },
        ],
      },
    },
  };
  if (notifications) td.events = notificationEvents(origin);
  return td;
}

function notificationEvents(origin: string): TD {
  const event = (description: string, path: string) => ({
    description,
    data: { title: "Partial TD", type: "object", properties: { id: { type: "string" } } },
    forms: [
      {
        op: "subscribeevent",
        href: `${origin}${path}`,
        subprotocol: "sse",
        contentType: "application/json",
        "htv:headers": [
          { description: "ID of the last event for reconnection", "htv:fieldName": "Last-Event-ID" },
        ],
        response: { contentType: "text/event-stream" },
      },
    ],
  });
  return {
    thingCreated: event("A member joined the ring", "/events/thing_created"),
    thingUpdated: event("A member's TD changed (e.g. it restarted on other ports)", "/events/thing_updated"),
    thingDeleted: event("A member left the ring", "/events/thing_deleted"),
  };
}
