// Who may invoke what: the role each action needs, checked the same way at every binding's door
// (the HTTP front, the CoAP routes). Reads, the TD and event subscriptions stay open.
import type { Credential, CredentialCheck, CredentialRole } from "../node/credentials.js";
import { AuthError } from "../util/errors.js";

export const ACTION_ROLES: Readonly<Record<string, CredentialRole>> = {
  put: "device",
  approve: "endpoint",
  report: "operator",
  inventory: "admin",
};

export const SECURED_ACTIONS: readonly string[] = Object.keys(ACTION_ROLES);

export interface AccessDeps {
  check(token: string): CredentialCheck;
  /** This node's id: an operator credential bound to a node works on that node only. */
  nodeId: string;
}

/**
 * The credential that lets `token` invoke `action`, undefined for an open action, or an AuthError:
 * code "unauthenticated" (401 / 4.01: none, malformed, altered, expired, as RFC 6750's
 * invalid_token) or "forbidden" (403 / 4.03: a valid credential of another role or node).
 */
export function authorizeAction(
  deps: AccessDeps,
  action: string,
  token: string | undefined,
  how: string,
): Credential | undefined {
  const role = ACTION_ROLES[action];
  if (role === undefined) return undefined;
  if (token === undefined || token === "") {
    throw new AuthError("unauthenticated", `${action} needs ${article(role)} ${role} credential (${how})`);
  }
  const checked = deps.check(token);
  if (!checked.ok) throw new AuthError("unauthenticated", checked.message);
  const c = checked.credential;
  if (!roleAllows(c, role)) {
    throw new AuthError(
      "forbidden",
      `${action} needs ${article(role)} ${role} credential; this one (${c.subject}) is ${article(c.role)} ${c.role}'s`,
    );
  }
  if (c.role === "operator" && c.node !== undefined && !deps.nodeId.startsWith(c.node)) {
    throw new AuthError("forbidden", `this operator credential is for node ${c.node}…, not this one`);
  }
  return c;
}

/** The admin's credential does everything; any other does what its role names. */
export function roleAllows(c: Credential, role: CredentialRole): boolean {
  return c.role === role || c.role === "admin";
}

const article = (word: string) => (/^[aeiou]/.test(word) ? "an" : "a");
