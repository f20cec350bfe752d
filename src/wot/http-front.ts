// Sits in front of node-wot's HTTP server (its `middleware` option) for what node-wot does not do:
// WoT discovery (/.well-known/wot with HEAD, the paginated /things directory), the admin bearer check
// for inventory (handlers cannot see headers), a body size limit, and mapping handler errors to
// the error table's statuses instead of node-wot's blanket 500 (via the request context the
// handlers write into); and the explorer page at `/`.
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Logger } from "../log.js";
import { MAX_INPUT_BYTES } from "./interactions.js";
import { requestContext, type RequestContext } from "./request-context.js";
import { AuthError, InputError, UnavailableError, errorText } from "../util/errors.js";
import { errorStatus, type ErrorStatus } from "./error-status.js";
import { EXPLORER_CSP, type Asset, type ExplorerAssets } from "./explorer-assets.js";

export const TD_CONTENT_TYPE = "application/td+json";
export const WELL_KNOWN_PATH = "/.well-known/wot";
export const DIRECTORY_PATH = "/things";
export const DEFAULT_PAGE = 20;
export const MAX_PAGE = 100;
/** Actions that need the admin credential. */
const ADMIN_ACTIONS = new Set(["inventory"]);

export interface HttpFrontOptions {
  /** The Thing's TD, undefined until it is exposed. */
  td(): Record<string, unknown> | undefined;
  directory(): Promise<Record<string, unknown>[]>;
  isAdmin(token: string | undefined): boolean;
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
      if (url.pathname === WELL_KNOWN_PATH) return serveTd(method, res, o.td());
      if (url.pathname === DIRECTORY_PATH) return await serveDirectory(method, url, res, o);
      const asset = o.assets?.at(url.pathname);
      if (asset !== undefined) return serveAsset(method, res, asset);

      const ctx: RequestContext = { admin: false };
      const action = /^\/[^/]+\/actions\/([^/]+)\/?$/.exec(url.pathname)?.[1];
      if (action !== undefined && method === "POST") {
        const length = Number(req.headers["content-length"] ?? 0);
        if (length > MAX_INPUT_BYTES) {
          return sendText(res, 413, `input is ${length} bytes; the limit is ${MAX_INPUT_BYTES}`);
        }
        if (ADMIN_ACTIONS.has(decodeURIComponent(action))) {
          const token = bearerToken(req.headers.authorization);
          if (token === undefined) {
            res.setHeader("WWW-Authenticate", `Bearer realm="${o.realm}"`);
            throw new AuthError(
              "unauthenticated",
              `${action} requires 'Authorization: Bearer <admin token>'`,
            );
          }
          if (!o.isAdmin(token))
            throw new AuthError("forbidden", "the bearer token is not this network's admin token");
          ctx.admin = true;
        }
      }
      // node-wot writes 500 for any handler error; the handler has recorded what its error maps to.
      const writeHead = res.writeHead.bind(res) as (status: number, ...rest: unknown[]) => ServerResponse;
      res.writeHead = ((status: number, ...rest: unknown[]) => {
        // A partial answer is never a plain 200 (see the query action).
        if (status === 200 && ctx.partial) return writeHead(206, ...rest);
        if (status !== 500 || ctx.error === undefined) return writeHead(status, ...rest);
        setRetryAfter(res, ctx.error);
        return writeHead(ctx.error.http, ...rest);
      }) as typeof res.writeHead;
      requestContext.run(ctx, next);
    } catch (err) {
      const status = errorStatus(err);
      if (status.kind === "internal") o.log.warn("http front failed", { err: errorText(err), url: req.url });
      if (res.headersSent) return void res.destroy();
      setRetryAfter(res, status);
      sendText(res, status.http, status.message);
    }
  };
}

function bearerToken(header: string | undefined): string | undefined {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header ?? "");
  return m?.[1];
}

function setRetryAfter(res: ServerResponse, status: ErrorStatus): void {
  if (status.retryAfterSeconds !== undefined) res.setHeader("Retry-After", String(status.retryAfterSeconds));
}

function sendText(res: ServerResponse, status: number, text: string): void {
  res.writeHead(status, { "Content-Type": "text/plain; charset=utf-8" });
  res.end(text);
}

function sendJson(
  method: string,
  res: ServerResponse,
  status: number,
  type: string,
  body: unknown,
  headers = {},
) {
  const buf = Buffer.from(JSON.stringify(body));
  res.writeHead(status, { "Content-Type": type, "Content-Length": buf.length, ...headers });
  // HEAD: the same headers as GET, no body.
  res.end(method === "HEAD" ? undefined : buf);
}

function allowGetHead(method: string, res: ServerResponse): boolean {
  if (method === "GET" || method === "HEAD") return true;
  res.setHeader("Allow", "GET, HEAD");
  sendText(res, 405, "Method Not Allowed");
  return false;
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

function serveTd(method: string, res: ServerResponse, td: Record<string, unknown> | undefined): void {
  if (!allowGetHead(method, res)) return;
  if (td === undefined) throw new UnavailableError("not_exposed", "the Thing is not exposed yet");
  sendJson(method, res, 200, TD_CONTENT_TYPE, td);
}

/**
 * GET /things?offset=&limit= -> a JSON array of TDs (limit default 20, max 100). When more remain,
 * a `Link: </things?offset=N&limit=L>; rel="next"` header points at the next page, as in the WoT
 * Discovery directory API; X-Total-Count gives the total.
 */
async function serveDirectory(
  method: string,
  url: URL,
  res: ServerResponse,
  o: HttpFrontOptions,
): Promise<void> {
  if (!allowGetHead(method, res)) return;
  const offset = intParam(url, "offset", 0);
  const limit = intParam(url, "limit", DEFAULT_PAGE);
  if (offset === undefined || limit === undefined || limit < 1 || limit > MAX_PAGE) {
    throw new InputError("bad_page", `offset must be an integer >= 0 and limit an integer in 1..${MAX_PAGE}`);
  }
  const all = await o.directory();
  // A stable order, so pages do not overlap or skip while the ring is unchanged.
  all.sort((a, b) => String(a.id).localeCompare(String(b.id)));
  const page = all.slice(offset, offset + limit);
  const headers: Record<string, string> = { "X-Total-Count": String(all.length) };
  if (offset + limit < all.length) {
    headers.Link = `<${DIRECTORY_PATH}?offset=${offset + limit}&limit=${limit}>; rel="next"`;
  }
  sendJson(method, res, 200, "application/json", page, headers);
}

function intParam(url: URL, name: string, dflt: number): number | undefined {
  const raw = url.searchParams.get(name);
  if (raw === null) return dflt;
  return /^\d{1,9}$/.test(raw) ? Number(raw) : undefined;
}
