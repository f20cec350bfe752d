// What a Thing looks like over CoAP: its path, the CoAP forms written into its TD, which actions
// are admin-only, and the index of our form that node-wot's handlers want to be told.
import { isIPv6 } from "node:net";
import type { ExposedThing } from "@node-wot/core";

export interface CoapForm {
  href: string;
  contentType: string;
  op: string | string[];
  subprotocol?: string;
  security?: string[];
}

export type FormKind = "property" | "observe" | "action" | "event";

export interface ThingEntry {
  path: string;
  thing: ExposedThing;
  adminActions: Set<string>;
  /** Our forms by "kind/name"; their index is looked up when needed because the Thing's owner
   * may prune other forms after expose(), which shifts indexes (pruning keeps form objects). */
  forms: Map<string, CoapForm>;
}

export interface BearerQuery {
  /** Name of the security definition added to the TD for the query-carried bearer token. */
  securityName: string;
  /** URI query parameter that carries the token. */
  tokenQueryName: string;
}

export function thingPathFromTitle(title: string): string {
  const slug = title
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-+|-+$/g, "");
  return slug.length > 0 ? slug : "thing";
}

export function coapBase(host: string, port: number): string {
  return `coap://${isIPv6(host) ? `[${host}]` : host}:${port}`;
}

/** Adds our forms (and, for admin actions, the bearer definition) to the Thing; `base` is coapBase(). */
export function coapEntry(
  thing: ExposedThing,
  path: string,
  base: string,
  bearer: BearerQuery,
  tdTemplate?: WoT.ThingDescription,
): ThingEntry {
  const entry: ThingEntry = {
    path,
    thing,
    adminActions: findAdminActions(thing, bearer, tdTemplate),
    forms: new Map(),
  };
  addForms(entry, `${base}/${encodeURIComponent(path)}`, bearer.securityName);
  return entry;
}

// An action is admin-only when its security (affordance-level, or on a form of the template)
// names a bearer scheme of the thing; its CoAP form then names our query-carried bearer scheme.
function findAdminActions(
  thing: ExposedThing,
  bearer: BearerQuery,
  tdTemplate?: WoT.ThingDescription,
): Set<string> {
  const defs = (thing.securityDefinitions ?? {}) as Record<string, { scheme?: string }>;
  const isBearer = (names: unknown): boolean =>
    (Array.isArray(names) ? names : typeof names === "string" ? [names] : []).some(
      (n) => typeof n === "string" && defs[n]?.scheme === "bearer",
    );
  const admin = new Set<string>();
  const templateActions = (tdTemplate?.actions ?? {}) as Record<
    string,
    { security?: unknown; forms?: unknown[] }
  >;
  for (const [name, action] of Object.entries(thing.actions)) {
    const candidates: unknown[] = [
      (action as { security?: unknown }).security,
      templateActions[name]?.security,
    ];
    for (const form of templateActions[name]?.forms ?? [])
      candidates.push((form as { security?: unknown }).security);
    if (candidates.some(isBearer)) admin.add(name);
  }
  if (admin.size > 0) {
    (thing.securityDefinitions as Record<string, unknown>)[bearer.securityName] = {
      scheme: "bearer",
      in: "query",
      name: bearer.tokenQueryName,
      description:
        "The same credential as bearer_sc, over CoAP as a URI query parameter (?access_token=), in clear: this node's CoAP has no DTLS, so use CoAP with a credential on trusted links only.",
    };
  }
  return admin;
}

function addForms(entry: ThingEntry, base: string, securityName: string): void {
  const push = (affordance: { forms?: unknown[] }, form: CoapForm): CoapForm => {
    if (affordance.forms === undefined) affordance.forms = [];
    affordance.forms.push(form);
    return form;
  };
  for (const [name, property] of Object.entries(entry.thing.properties)) {
    const href = `${base}/properties/${encodeURIComponent(name)}`;
    const ops: string[] = [];
    if (property.writeOnly !== true) ops.push("readproperty");
    if (property.readOnly !== true) ops.push("writeproperty");
    if (ops.length > 0) {
      entry.forms.set(`property/${name}`, push(property, { href, contentType: "application/json", op: ops }));
    }
    if (property.observable === true) {
      const form = {
        href,
        contentType: "application/json",
        op: ["observeproperty", "unobserveproperty"],
        subprotocol: "cov:observe",
      };
      entry.forms.set(`observe/${name}`, push(property, form));
    }
  }
  for (const [name, action] of Object.entries(entry.thing.actions)) {
    const form: CoapForm = {
      href: `${base}/actions/${encodeURIComponent(name)}`,
      contentType: "application/json",
      op: "invokeaction",
    };
    if (entry.adminActions.has(name)) form.security = [securityName];
    entry.forms.set(`action/${name}`, push(action, form));
  }
  for (const [name, event] of Object.entries(entry.thing.events)) {
    const form = {
      href: `${base}/events/${encodeURIComponent(name)}`,
      contentType: "application/json",
      op: ["subscribeevent", "unsubscribeevent"],
      subprotocol: "cov:observe",
    };
    entry.forms.set(`event/${name}`, push(event, form));
  }
}

export function formIndex(entry: ThingEntry, kind: FormKind, name: string): number {
  const form = entry.forms.get(`${kind}/${name}`);
  const affordance =
    kind === "action"
      ? entry.thing.actions[name]
      : kind === "event"
        ? entry.thing.events[name]
        : entry.thing.properties[name];
  const forms = (affordance?.forms ?? []) as unknown[];
  const exact = form === undefined ? -1 : forms.indexOf(form);
  if (exact >= 0) return exact;
  // The forms were replaced by copies: match on what we wrote.
  const same = forms.findIndex(
    (f) =>
      (f as CoapForm).href === form?.href && JSON.stringify((f as CoapForm).op) === JSON.stringify(form?.op),
  );
  return same >= 0 ? same : 0;
}
