// One error table for both protocols: every row is the same status over HTTP and CoAP, and a
// handler error of each kind gets that pair from a real Thing over both bindings, with one body:
// the same RFC 9457 problem details over both, for handler errors and for refused input alike.
import test from "ava";
import { AuthError, ConflictError, InputError, NotFoundError, UnavailableError } from "../src/util/errors.js";
import { fromWireError, toWireError } from "../src/net/frame.js";
import {
  ERROR_STATUS_TABLE,
  errorStatus,
  INTERNAL_MESSAGE,
  type StatusRow,
} from "../src/wot/error-status.js";
import { coapRequest } from "./helpers/coap-request.js";
import { startFakeThing } from "./helpers/running-thing.js";

/** An error of each row's kind (and code, where the row names one). */
function errorFor(row: StatusRow): Error {
  switch (row.kind) {
    case "input":
      return new InputError("invalid_input", "bad input");
    case "auth":
      return new AuthError(row.code ?? "peer_mismatch", "who are you");
    case "not_found":
      return new NotFoundError("no such record");
    case "conflict":
      return new ConflictError("not_owner", "ask the owner");
    case "unavailable":
      return new UnavailableError("no_replicas", "try later", 7);
    case "internal":
      return new Error("secret detail of a bug");
  }
}

const rowName = (row: StatusRow): string => `${row.kind}${row.code === undefined ? "" : `/${row.code}`}`;

test("every row of the error table is the same status in HTTP and CoAP", (t) => {
  for (const row of ERROR_STATUS_TABLE) {
    t.is(row.coap, `${Math.floor(row.http / 100)}.${String(row.http % 100).padStart(2, "0")}`, rowName(row));
  }
  t.deepEqual(
    ERROR_STATUS_TABLE.map((r) => [rowName(r), r.http, r.coap]),
    [
      ["input", 400, "4.00"],
      ["auth/unauthenticated", 401, "4.01"],
      ["auth", 403, "4.03"],
      ["not_found", 404, "4.04"],
      ["conflict", 409, "4.09"],
      ["unavailable", 503, "5.03"],
      ["internal", 500, "5.00"],
    ],
  );
});

test("errors map by kind: class instances, look-alikes by name, and errors rebuilt from the peer RPC", (t) => {
  for (const row of ERROR_STATUS_TABLE) {
    const err = errorFor(row);
    const lookAlike = Object.assign(new Error(err.message), {
      name: err.name,
      code: (err as AuthError).code,
    });
    const rebuilt = fromWireError(toWireError(err));
    for (const [how, e] of [
      ["instance", err],
      ["by name", lookAlike],
      ["rebuilt", rebuilt],
    ] as const) {
      if (row.kind === "internal" && how === "rebuilt") continue; // a remote bug is a NetError
      const s = errorStatus(e);
      t.deepEqual([s.http, s.coap], [row.http, row.coap], `${rowName(row)} ${how}`);
    }
  }
  const peer = errorStatus(new AuthError("peer_mismatch", "signed by another peer"));
  t.deepEqual([peer.http, peer.coap], [403, "4.03"]);
  t.is(errorStatus(new UnavailableError("no_replicas", "later", 2.5)).retryAfterSeconds, 3);
  t.is(errorStatus(new InputError("x", "y")).retryAfterSeconds, undefined);
  t.is(errorStatus(new Error("secret")).message, INTERNAL_MESSAGE);
});

test("a failing action answers the table's status over HTTP and CoAP alike", async (t) => {
  const { node, href } = await startFakeThing(t);
  let failure: Error = new Error("unset");
  node.get = async () => {
    throw failure;
  };
  for (const row of ERROR_STATUS_TABLE) {
    failure = errorFor(row);
    const name = rowName(row);
    const http = await fetch(href("actions", "get", "http"), {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ key: "k" }),
    });
    const httpText = await http.text();
    const coap = await coapRequest(href("actions", "get", "coap"), "POST", { key: "k" });
    t.is(http.status, row.http, name);
    t.is(coap.code, row.coap, name);
    if (row.kind === "unavailable") {
      t.is(http.headers.get("retry-after"), "7", name);
      t.is(coap.maxAge, 7, name);
    } else {
      t.is(http.headers.get("retry-after"), null, name);
    }
    // One body for every error: RFC 9457 problem details with the table's status.
    t.is(http.headers.get("content-type"), "application/problem+json", name);
    t.like(JSON.parse(httpText), { type: "about:blank", status: row.http }, name);
    // ...and the same body over CoAP, as JSON (no Content-Format number exists for problem+json).
    t.is(coap.contentFormat, "application/json", name);
    t.deepEqual(JSON.parse(coap.text), JSON.parse(httpText), name);
    if (row.kind === "internal") {
      t.notRegex(httpText, /secret detail/, name);
    } else {
      t.is((JSON.parse(httpText) as { detail: string }).detail, failure.message, name);
    }
  }
});

test("the same bad input gets the same problem details over HTTP and CoAP", async (t) => {
  const { node, href } = await startFakeThing(t);
  let reached = 0;
  node.get = async () => {
    reached++;
    throw new Error("the node was reached");
  };
  const cases: Array<[action: string, body: string]> = [
    ["get", "{not json"],
    ["get", "[1,2]"],
    ["get", "{}"],
    ["get", JSON.stringify({ key: 5 })],
    ["get", JSON.stringify({ key: "k", extra: true })],
    ["get", ""],
    ["query", JSON.stringify({ from: "2024-02-30T00:00:00Z", to: 0 })],
    ["query", JSON.stringify({ from: 0, to: 1, limit: "ten" })],
    ["proof", JSON.stringify({ txID: 1 })],
  ];
  for (const [action, body] of cases) {
    const name = `${action} ${body}`;
    const http = await fetch(href("actions", action, "http"), {
      method: "POST",
      headers: { "content-type": "application/json" },
      body,
    });
    const httpBody = (await http.json()) as { status: number; title: string; detail: string };
    const coap = await coapRequest(href("actions", action, "coap"), "POST", body === "" ? undefined : body);
    t.is(http.status, 400, name);
    t.is(http.headers.get("content-type"), "application/problem+json", name);
    t.is(coap.code, "4.00", name);
    t.is(coap.contentFormat, "application/json", name);
    t.deepEqual(JSON.parse(coap.text), httpBody, name);
    t.like(httpBody, { type: "about:blank", title: "Bad Request", status: 400 }, name);
    t.true(httpBody.detail.startsWith(`${action}: `), `${name}: ${httpBody.detail}`);
  }
  t.is(reached, 0);
});

test("the protocol layers' own refusals carry the same problem details shape over HTTP and CoAP", async (t) => {
  const { href } = await startFakeThing(t);
  const thingOf = (url: string) => url.slice(0, url.indexOf("/actions/"));
  const cases: Array<
    [what: string, http: RequestInit & { path: string }, coap: [string, "GET" | "POST"], status: number]
  > = [
    ["unknown action", { path: "/actions/nope", method: "POST", body: "{}" }, ["/actions/nope", "POST"], 404],
    ["GET of an action", { path: "/actions/get", method: "GET" }, ["/actions/get", "GET"], 405],
  ];
  for (const [what, http, [coapPath, coapMethod], status] of cases) {
    const h = await fetch(thingOf(href("actions", "get", "http")) + http.path, {
      ...http,
      headers: { "content-type": "application/json" },
    });
    const c = await coapRequest(thingOf(href("actions", "get", "coap")) + coapPath, coapMethod);
    t.is(h.status, status, what);
    t.is(h.headers.get("content-type"), "application/problem+json", what);
    t.is(c.code, `${Math.floor(status / 100)}.0${status % 100}`, what);
    t.is(c.contentFormat, "application/json", what);
    const [hb, cb] = [
      (await h.json()) as Record<string, unknown>,
      JSON.parse(c.text) as Record<string, unknown>,
    ];
    for (const body of [hb, cb]) {
      t.deepEqual(Object.keys(body).sort(), ["detail", "status", "title", "type"], what);
      t.like(body, { type: "about:blank", status }, what);
    }
    t.is(hb.title, cb.title, what);
  }
});
