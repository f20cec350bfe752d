// node-wot action handlers never see the HTTP request, and its HTTP server answers every handler
// error with 500. An AsyncLocalStorage context opened around each HTTP request carries facts both
// ways: in, that the caller proved the admin credential; out, the status the handler's error deserves.
import { AsyncLocalStorage } from "node:async_hooks";
import type { ErrorStatus } from "./error-status.js";

export interface RequestContext {
  /** The request carried this network's admin bearer token (checked before node-wot saw it). */
  admin: boolean;
  /** Set by a handler whose answer is partial (a query with missing ranges): HTTP says 206. */
  partial?: boolean;
  /** Set by a failing handler: what its error maps to (status, Retry-After). */
  error?: ErrorStatus;
}

export const requestContext = new AsyncLocalStorage<RequestContext>();
