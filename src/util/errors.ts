// Named errors with stable codes, so every edge (HTTP status, CoAP code, RPC error frame, CLI exit
// code) can tell "your fault" from "our fault" without string matching. The peer RPC carries
// `kind` and `code` and rebuilds the same class on the caller's side (net/frame.ts).
export abstract class FlowchainError extends Error {
  abstract readonly kind: ErrorKind;
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.code = code;
  }
}

export type ErrorKind = "input" | "auth" | "not_found" | "unavailable" | "conflict";

/** The caller sent something wrong: HTTP 400, CoAP 4.00. */
export class InputError extends FlowchainError {
  readonly kind = "input";
  override readonly name = "InputError";
}

/** No or wrong credentials (`unauthenticated`: 401 / 4.01; anything else: 403 / 4.03). */
export class AuthError extends FlowchainError {
  readonly kind = "auth";
  override readonly name = "AuthError";
}

export class NotFoundError extends FlowchainError {
  readonly kind = "not_found";
  override readonly name = "NotFoundError";
  constructor(message: string, code = "not_found") {
    super(code, message);
  }
}

/**
 * The node cannot do it now, but the same call may work later (no owner reachable, not enough
 * replicas): HTTP 503 / CoAP 5.03 with Retry-After.
 */
export class UnavailableError extends FlowchainError {
  readonly kind = "unavailable";
  override readonly name = "UnavailableError";
  constructor(
    code: string,
    message: string,
    readonly retryAfterSeconds = 1,
  ) {
    super(code, message);
  }
}

/** The caller's view is stale (e.g. it routed a key to a node that does not own it); retry elsewhere. */
export class ConflictError extends FlowchainError {
  readonly kind = "conflict";
  override readonly name = "ConflictError";
}

/** The one log field for an error: its message (and code when it has one). */
export function errorText(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return typeof code === "string" ? `${err.message} (${code})` : err.message;
  }
  return String(err);
}
