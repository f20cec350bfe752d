// One mapping from the project's error types to HTTP statuses. By name, not instanceof: errors that
// crossed the peer RPC are rebuilt by name, and the CoAP server maps the same names to 4.xx codes.
export function httpStatusFor(err: unknown): number {
  const name = err instanceof Error ? err.name : "";
  if (name === "InputError") return 400;
  if (name === "NotFoundError") return 404;
  if (name === "AuthError") return (err as { code?: string }).code === "unauthenticated" ? 401 : 403;
  return 500;
}
