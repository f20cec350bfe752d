// Writing the HTTP front's own answers: JSON documents (HEAD gets the headers only), problem
// details for every refusal, and the CORS headers every public path carries so a browser app on
// any origin can discover and read the ring.
import type { ServerResponse } from "node:http";
import { PROBLEM_CONTENT_TYPE, problemDetails } from "./error-status.js";

export const TD_CONTENT_TYPE = "application/td+json";
export const JSON_LD_CONTENT_TYPE = "application/ld+json";

/** Headers a cross-origin script may read: paging, cache validation and retry hints. */
const EXPOSED = "Link, ETag, X-Total-Count, Retry-After, WWW-Authenticate";

export function setCors(res: ServerResponse): void {
  res.setHeader("Access-Control-Allow-Origin", "*");
  res.setHeader("Access-Control-Expose-Headers", EXPOSED);
}

/** A CORS preflight for a read-only public path. */
export function sendPreflight(res: ServerResponse): void {
  setCors(res);
  res.setHeader("Access-Control-Allow-Methods", "GET, HEAD, OPTIONS");
  res.setHeader("Access-Control-Allow-Headers", "Accept, Cache-Control, Last-Event-ID");
  res.setHeader("Access-Control-Max-Age", "86400");
  res.writeHead(204);
  res.end();
}

export function sendJson(
  method: string,
  res: ServerResponse,
  status: number,
  type: string,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const buf = Buffer.from(JSON.stringify(body));
  res.writeHead(status, { "Content-Type": type, "Content-Length": buf.length, ...headers });
  // HEAD: the same headers as GET, no body.
  res.end(method === "HEAD" ? undefined : buf);
}

export function sendProblem(res: ServerResponse, status: number, detail: string): void {
  const buf = Buffer.from(JSON.stringify(problemDetails(status, detail)));
  res.writeHead(status, { "Content-Type": PROBLEM_CONTENT_TYPE, "Content-Length": buf.length });
  res.end(buf);
}

/** True for GET and HEAD; anything else is answered 405 here. */
export function allowGetHead(method: string, res: ServerResponse): boolean {
  if (method === "GET" || method === "HEAD") return true;
  res.setHeader("Allow", "GET, HEAD, OPTIONS");
  sendProblem(res, 405, `${method} is not allowed here; use GET`);
  return false;
}
