// One table from the project's errors to what both protocols answer, so HTTP and CoAP cannot drift
// apart (they did: a refused peer was HTTP 403 but CoAP 4.01). Rows are keyed by the error's kind,
// read from its `kind` field or else its class name, not by instanceof: errors that crossed the
// peer RPC are rebuilt, and handlers in other packages throw look-alikes.
import { STATUS_CODES } from "node:http";
import { InputError, type ErrorKind } from "../util/errors.js";

export type StatusKind = ErrorKind | "internal";

export interface StatusRow {
  kind: StatusKind;
  /** The row applies only to errors with this code; a row without one takes the kind's other codes. */
  code?: string;
  http: number;
  coap: string;
}

/** First matching row wins, so a row with a code precedes its kind's catch-all row. */
export const ERROR_STATUS_TABLE: readonly StatusRow[] = [
  { kind: "input", http: 400, coap: "4.00" },
  { kind: "auth", code: "unauthenticated", http: 401, coap: "4.01" },
  { kind: "auth", http: 403, coap: "4.03" },
  { kind: "not_found", http: 404, coap: "4.04" },
  { kind: "conflict", http: 409, coap: "4.09" },
  // Retry-After (HTTP) and Max-Age (CoAP, RFC 7252 §5.9.3.4) tell the caller when to try again.
  { kind: "unavailable", http: 503, coap: "5.03" },
  { kind: "internal", http: 500, coap: "5.00" },
];

export interface ErrorStatus extends StatusRow {
  /** What the caller is told: the error's message, except for internal errors, whose message may
   * expose internals and is for the log only. */
  message: string;
  /** Seconds before a retry may succeed; set for unavailable errors only. */
  retryAfterSeconds?: number;
}

const KIND_BY_NAME: Readonly<Record<string, ErrorKind>> = {
  InputError: "input",
  AuthError: "auth",
  NotFoundError: "not_found",
  UnavailableError: "unavailable",
  ConflictError: "conflict",
};
const KINDS = new Set<string>(Object.values(KIND_BY_NAME));

export const INTERNAL_MESSAGE = "internal error";

export function errorStatus(err: unknown): ErrorStatus {
  const e = (typeof err === "object" && err !== null ? err : {}) as Record<string, unknown>;
  const kind = kindOf(e);
  // An auth error that names no code has not said a credential was refused: ask for one.
  const code = typeof e.code === "string" ? e.code : kind === "auth" ? "unauthenticated" : undefined;
  const row = ERROR_STATUS_TABLE.find((r) => r.kind === kind && (r.code === undefined || r.code === code))!;
  const status: ErrorStatus = {
    ...row,
    message: kind === "internal" ? INTERNAL_MESSAGE : typeof e.message === "string" ? e.message : String(err),
  };
  if (kind === "unavailable") status.retryAfterSeconds = retryAfter(e.retryAfterSeconds);
  return status;
}

function kindOf(e: Record<string, unknown>): StatusKind {
  if (typeof e.kind === "string" && KINDS.has(e.kind)) return e.kind as ErrorKind;
  if (typeof e.name === "string" && Object.hasOwn(KIND_BY_NAME, e.name)) return KIND_BY_NAME[e.name]!;
  return "internal";
}

// Both headers carry whole seconds; an error that gave none gets UnavailableError's default.
function retryAfter(seconds: unknown): number {
  return typeof seconds === "number" && Number.isFinite(seconds) && seconds > 0 ? Math.ceil(seconds) : 1;
}

/**
 * The one error body every binding sends, RFC 9457 problem details: HTTP as
 * application/problem+json, CoAP (coapProblemPayload) and WebSocket as JSON. `status` is the HTTP status of the row
 * (the CoAP code is the one on the CoAP message), so the same input gives the same body everywhere.
 */
export interface ProblemDetails {
  type: "about:blank";
  title: string;
  status: number;
  detail: string;
}

export const PROBLEM_CONTENT_TYPE = "application/problem+json";

export function problemDetails(http: number, detail: string): ProblemDetails {
  return { type: "about:blank", title: STATUS_CODES[http] ?? "Error", status: http, detail };
}

/**
 * The Content-Format of a CoAP problem body. The CoRE registry has no number for
 * application/problem+json (RFC 9290's concise problem details are CBOR, 257), and a client that
 * reads the HTTP body should read the CoAP one with the same JSON code: so application/json (50).
 */
export const COAP_PROBLEM_CONTENT_TYPE = "application/json";

// CoAP codes with no HTTP status of the same number: a client treats an unknown 4xx as 400
// (RFC 9110 §15), so the problem says what HTTP would have answered.
const HTTP_OF_COAP: Readonly<Record<string, number>> = {
  "4.02": 400, // Bad Option
  "4.08": 400, // Request Entity Incomplete (RFC 7959)
  "5.05": 502, // Proxying Not Supported
};

/** The HTTP status a CoAP error code stands for: 4.04 is 404, as in the error table. */
export function httpStatusOfCoap(code: string): number {
  const mapped = HTTP_OF_COAP[code];
  if (mapped !== undefined) return mapped;
  const m = /^([45])\.(\d\d)$/.exec(code);
  return m === null ? 500 : Number(m[1]) * 100 + Number(m[2]);
}

/** A CoAP error payload: the problem details HTTP sends for the same status, as JSON bytes. */
export function coapProblemPayload(code: string, detail: string): Buffer {
  return Buffer.from(JSON.stringify(problemDetails(httpStatusOfCoap(code), detail)));
}

/**
 * The refusal of an action payload that does not decode, in the same words (and so the same
 * problem details) whichever binding read it; schema refusals share input-validation.ts's checks.
 */
export function undecodableInput(action: string, mediaType = "application/json"): InputError {
  return new InputError("malformed_json", `${action}: input is not valid ${mediaTypeName(mediaType)}`);
}

function mediaTypeName(mediaType: string): string {
  return mediaType === "application/json" ? "JSON" : mediaType;
}
