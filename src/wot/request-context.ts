// node-wot action handlers never see the HTTP request, and its HTTP server answers every handler
// error with 500. An AsyncLocalStorage context opened around each HTTP request carries facts both
// ways: in, the credential the caller proved; out, the status the handler's error deserves. The CoAP
// routes open one around each action too.
import { AsyncLocalStorage } from "node:async_hooks";
import type { Credential } from "../node/credentials.js";
import type { ErrorStatus } from "./error-status.js";

export interface RequestContext {
  /** The credential the request proved at the binding's door (checked before node-wot saw it). */
  credential?: Credential;
  /** Set by a handler whose answer is partial (a query with missing ranges): HTTP says 206. */
  partial?: boolean;
  /** Set by a failing handler: what its error maps to (status, Retry-After). */
  error?: ErrorStatus;
}

export const requestContext = new AsyncLocalStorage<RequestContext>();
