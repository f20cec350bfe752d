// Sits in front of node-wot's HTTP server (its `middleware` option) for what node-wot does not do:
// WoT discovery (/.well-known/wot, the read-only Thing Description Directory of the ring), the
// JSON-LD contexts the node's documents name, the Thing's events (SSE and long-poll, see
// http-events.ts), the admin bearer check for inventory (handlers cannot see headers), a body size
// limit, and mapping handler errors to the error table's statuses and one problem-details body
// instead of node-wot's blanket 500 with a text message (via the request context the handlers
// write into); and the explorer page at `/`.
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Logger } from "../log.js";
import { MAX_INPUT_BYTES } from "./interactions.js";
import { requestContext, type RequestContext } from "./request-context.js";
import { authorizeAction, type AccessDeps } from "./access.js";
import { InputError, UnavailableError, errorText } from "../util/errors.js";
import { PROBLEM_CONTENT_TYPE, errorStatus, problemDetails, type ErrorStatus } from "./error-status.js";
import { DIRECTORY_PATH, DIRECTORY_TD_PATH, serveThing, serveThings, type TD } from "./http-directory.js";
import type { HttpEventHub } from "./http-events.js";
import { DIRECTORY_EVENT_TYPES } from "./directory-changes.js";
import {
  JSON_LD_CONTENT_TYPE,
  TD_CONTENT_TYPE,
  allowGetHead,
  sendJson,
  sendPreflight,
  sendProblem,
  setCors,
} from "./http-replies.js";
import { EXPLORER_CSP, type Asset, type ExplorerAssets } from "./explorer-assets.js";

export { DIRECTORY_PATH } from "./http-directory.js";
export const WELL_KNOWN_PATH = "/.well-known/wot";
/** JSON-LD contexts the node serves, by path: documents name them by these URLs. */
export const CONTEXTS_PATH = "/contexts/";
/** The WoT Discovery notification API: every directory event, or one type. */
export const DIRECTORY_EVENTS_PATH = "/events";

export interface HttpFrontOptions {
  /** The Thing's TD, undefined until it is exposed. */
  td(): TD | undefined;
  /** The directory's own TD, undefined until the Thing is exposed. */
  directoryTd(): TD | undefined;
  directory(): Promise<TD[]>;
  /** Context documents by file name under /contexts/. */
  contexts: ReadonlyMap<string, unknown>;
  /** The Thing's events by the path of their HTTP form, once exposed. */
  eventPaths(): ReadonlyMap<string, string>;
  events: HttpEventHub;
  /** The directory's notifications (SSE), and a nudge to compare the ring now. */
  directoryEvents: HttpEventHub;
  directoryListened(): void;
  /** Checks bearer credentials for the actions that need one (see access.ts). */
  access: AccessDeps;
  realm: string;
  log: Logger;
  /** The explorer page's files, served at `/` and under `/explorer/`. */
  assets?: ExplorerAssets;
}

export type Middleware = (req: IncomingMessage, res: ServerResponse, next: () => void) => Promise<void>;

export function createHttpFront(o: HttpFrontOptions): Middleware {
  return async (req, res, next) => {
    try {
      const url = new URL(req.url ?? "/", "http://localhost");
      const method = req.method ?? "GET";
      const path = url.pathname;
      const isPublic =
        path === WELL_KNOWN_PATH ||
        path === DIRECTORY_TD_PATH ||
        path === DIRECTORY_PATH ||
        path.startsWith(`${DIRECTORY_PATH}/`) ||
        path.startsWith(CONTEXTS_PATH) ||
        path === DIRECTORY_EVENTS_PATH ||
        path.startsWith(`${DIRECTORY_EVENTS_PATH}/`);
      if (isPublic) {
        setCors(res);
        if (method === "OPTIONS") return sendPreflight(res);
        if (path === WELL_KNOWN_PATH) return serveDocument(method, res, TD_CONTENT_TYPE, o.td());
        if (path === DIRECTORY_TD_PATH) return serveDocument(method, res, TD_CONTENT_TYPE, o.directoryTd());
        if (path === DIRECTORY_PATH) return serveThings(method, url, res, await o.directory());
        if (path === DIRECTORY_EVENTS_PATH || path.startsWith(`${DIRECTORY_EVENTS_PATH}/`)) {
          return serveDirectoryEvents(method, url, req, res, o);
        }
        if (path.startsWith(CONTEXTS_PATH)) {
          const doc = o.contexts.get(path.slice(CONTEXTS_PATH.length));
          if (doc === undefined) return sendProblem(res, 404, `no context at ${path}`);
          return serveDocument(method, res, JSON_LD_CONTENT_TYPE, doc);
        }
        const id = path.slice(DIRECTORY_PATH.length + 1);
        return serveThing(method, id, res, await o.directory());
      }
      const event = o.eventPaths().get(path);
      if (event !== undefined && (method === "GET" || method === "HEAD")) {
        return o.events.serve(event, req, res);
      }
      const asset = o.assets?.at(path);
      if (asset !== undefined) return serveAsset(method, res, asset);

      const ctx: RequestContext = {};
      const action = /^\/[^/]+\/actions\/([^/]+)\/?$/.exec(path)?.[1];
      if (action !== undefined && method === "POST") {
        const length = Number(req.headers["content-length"] ?? 0);
        if (length > MAX_INPUT_BYTES) {
          return sendProblem(res, 413, `input is ${length} bytes; the limit is ${MAX_INPUT_BYTES}`);
        }
        const token = bearerToken(req.headers.authorization);
        try {
          const how = "'Authorization: Bearer <credential>'";
          ctx.credential = authorizeAction(o.access, decodeURIComponent(action), token, how);
        } catch (err) {
          // RFC 6750 §3: a refused request is told the scheme, and why when a token was sent.
          const http = errorStatus(err).http;
          const why =
            token === undefined
              ? ""
              : http === 401
                ? ', error="invalid_token"'
                : ', error="insufficient_scope"';
          if (http === 401 || token !== undefined)
            res.setHeader("WWW-Authenticate", `Bearer realm="${o.realm}"${why}`);
          throw err;
        }
      }
      mapHandlerErrors(res, ctx);
      requestContext.run(ctx, next);
    } catch (err) {
      const status = errorStatus(err);
      if (status.kind === "internal") o.log.warn("http front failed", { err: errorText(err), url: req.url });
      if (res.headersSent) return void res.destroy();
      setRetryAfter(res, status);
      sendProblem(res, status.http, status.message);
    }
  };
}

/**
 * node-wot answers any handler error with 500 and the message as text; the handler has recorded
 * what its error maps to, so the status becomes the table's and the body the problem details
 * every binding sends.
 */
function mapHandlerErrors(res: ServerResponse, ctx: RequestContext): void {
  const writeHead = res.writeHead.bind(res) as (status: number, ...rest: unknown[]) => ServerResponse;
  const end = res.end.bind(res) as (...args: unknown[]) => ServerResponse;
  res.writeHead = ((status: number, ...rest: unknown[]) => {
    // A partial answer is never a plain 200 (see the query action).
    if (status === 200 && ctx.partial) return writeHead(206, ...rest);
    if (status !== 500 || ctx.error === undefined) return writeHead(status, ...rest);
    const error = ctx.error;
    setRetryAfter(res, error);
    const body = Buffer.from(JSON.stringify(problemDetails(error.http, error.message)));
    res.setHeader("Content-Type", PROBLEM_CONTENT_TYPE);
    res.setHeader("Content-Length", body.length);
    res.end = ((..._ignored: unknown[]) => end(body)) as typeof res.end;
    return writeHead(error.http, ...rest);
  }) as typeof res.writeHead;
}

function bearerToken(header: string | undefined): string | undefined {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header ?? "");
  return m?.[1];
}

function setRetryAfter(res: ServerResponse, status: ErrorStatus): void {
  if (status.retryAfterSeconds !== undefined) res.setHeader("Retry-After", String(status.retryAfterSeconds));
}

function serveAsset(method: string, res: ServerResponse, asset: Asset): void {
  if (!allowGetHead(method, res)) return;
  res.writeHead(200, {
    "Content-Type": asset.type,
    "Content-Length": asset.body.length,
    "Content-Security-Policy": EXPLORER_CSP,
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-cache",
  });
  res.end(method === "HEAD" ? undefined : asset.body);
}

function serveDirectoryEvents(
  method: string,
  url: URL,
  req: IncomingMessage,
  res: ServerResponse,
  o: HttpFrontOptions,
): void {
  if (!allowGetHead(method, res)) return;
  // The spec: a server without `diff` support rejects it rather than send less than asked.
  if (url.searchParams.has("diff"))
    throw new InputError("no_diff", "diff is not supported: events carry { id }");
  const type = url.pathname.slice(DIRECTORY_EVENTS_PATH.length + 1);
  const names = type === "" ? [...DIRECTORY_EVENT_TYPES] : [type];
  if (!names.every((n) => o.directoryEvents.has(n))) return sendProblem(res, 404, `no event type ${type}`);
  o.directoryEvents.serve(names, req, res);
  o.directoryListened();
}

function serveDocument(method: string, res: ServerResponse, type: string, doc: unknown): void {
  if (!allowGetHead(method, res)) return;
  if (doc === undefined) throw new UnavailableError("not_exposed", "the Thing is not exposed yet");
  sendJson(method, res, 200, type, doc);
}
