// The node's Thing over real sockets: TD shape and forms, every action over HTTP, input validation
// before the node, admin-only inventory on every binding, and discovery endpoints.
import test from "ava";
import { ADMIN_TOKEN, ROLE_TOKENS } from "./helpers/fake-node.js";
import { fakeAuth, startFakeThing, withFakeToken } from "./helpers/running-thing.js";
import { coapRequest } from "./helpers/coap-request.js";

type Affordance = { forms: { href: string; security?: string[]; op?: string | string[] }[] };
const affordances = (td: Record<string, unknown>) =>
  (["properties", "actions", "events"] as const).flatMap((k) =>
    Object.entries(td[k] as Record<string, Affordance>).map(([name, a]) => ({ kind: k, name, a })),
  );

/** POSTs with the credential the action needs unless `headers` names its own authorization. */
async function post(href: string, body: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(href, {
    method: "POST",
    headers: { "content-type": "application/json", ...fakeAuth(href), ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
  return { status: res.status, text: await res.text() };
}

test("TD: stable urn id, short id in title, both contexts, forms only on the advertised host", async (t) => {
  const { node, thing } = await startFakeThing(t);
  const td = thing.td;
  t.is(td.id, `urn:flowchain:node:${node.id}`);
  t.true(String(td.title).includes(node.id.slice(0, 8)));
  const ctx = td["@context"] as unknown[];
  t.is(ctx[0], "https://www.w3.org/2022/wot/td/v1.1");
  // The Flowchain terms are inlined: no context a reader would have to fetch from us.
  t.deepEqual(
    ctx.filter((c) => typeof c === "string"),
    ["https://www.w3.org/2022/wot/td/v1.1"],
  );
  t.like(ctx[1], { FlowchainNode: "flowchain:Node" });
  t.deepEqual(node.td, td, "the node was told its TD");
  t.deepEqual(Object.keys(td.properties as object).sort(), [
    "balance",
    "branches",
    "chain",
    "checkpoint",
    "id",
    "peers",
    "ring",
    "stats",
  ]);
  t.deepEqual(Object.keys(td.actions as object).sort(), [
    "approve",
    "get",
    "inventory",
    "proof",
    "put",
    "query",
    "report",
  ]);
  t.deepEqual(Object.keys(td.events as object).sort(), ["block", "transaction", "verified"]);
  const hrefs = affordances(td).flatMap(({ a }) => a.forms.map((f) => new URL(f.href)));
  t.true(hrefs.length > 0);
  for (const u of hrefs) t.is(u.hostname, "127.0.0.1", u.href);
  const ports = new Set(hrefs.map((u) => `${u.protocol}${u.port}`));
  t.deepEqual(
    [...ports].sort(),
    [`coap:${thing.ports.coap}`, `http:${thing.ports.http}`, `ws:${thing.ports.ws}`].sort(),
  );
  t.false(
    hrefs.some((u) => u.pathname.includes("urn")),
    "no duplicate forms under the id path",
  );
  // Every interaction is reachable over HTTP and CoAP; WebSocket serves events only.
  for (const { kind, name, a } of affordances(td)) {
    const schemes = new Set(a.forms.map((f) => new URL(f.href).protocol));
    t.true(schemes.has("http:") && schemes.has("coap:"), `${kind}/${name}`);
    t.is(schemes.has("ws:"), kind === "events", `${kind}/${name} ws`);
  }
});

test("TD security: the Thing's scheme is the bearer credential; CoAP forms of secured actions carry it in the query", async (t) => {
  const { thing } = await startFakeThing(t);
  const td = thing.td;
  // Thing-level: stock node-wot sends a credential given through addCredentials on every request.
  t.deepEqual(td.security, ["bearer_sc"]);
  const defs = td.securityDefinitions as Record<string, { scheme: string; in?: string; name?: string }>;
  t.like(defs.bearer_sc, { scheme: "bearer", in: "header", name: "Authorization" });
  const secured = ["put", "approve", "report", "inventory"];
  for (const { kind, name, a } of affordances(td)) {
    for (const f of a.forms) {
      if (kind === "actions" && secured.includes(name) && f.href.startsWith("coap:")) {
        t.deepEqual(f.security, ["coap_bearer_sc"], f.href);
        t.like(defs.coap_bearer_sc, { scheme: "bearer", in: "query", name: "access_token" });
      } else {
        t.is(f.security, undefined, f.href);
      }
    }
    // Secured actions are offered only where the door checks the credential (no WebSocket form).
    if (kind === "actions" && secured.includes(name)) {
      t.true(
        a.forms.every((f) => /^(http|coap):/.test(f.href)),
        name,
      );
    }
  }
});

test("HTTP actions: put, get, query, approve reach the node and return its answers", async (t) => {
  const { node, href } = await startFakeThing(t);
  const put = await post(href("actions", "put", "http"), {
    value: 21.5,
    source: "sensor-1",
    timestamp: 1700000000000,
  });
  t.is(put.status, 200, put.text);
  const putOut = JSON.parse(put.text) as { key: string; txID: string; owner: string; hops: number };
  t.is(putOut.owner, node.id);
  t.is(node.records.size, 1);

  const iso = await post(href("actions", "put", "http"), {
    value: { t: 1 },
    timestamp: "2023-11-14T22:13:20.000Z",
  });
  t.is(iso.status, 200, iso.text);

  const got = await post(href("actions", "get", "http"), { key: putOut.key });
  t.is(got.status, 200);
  t.like(JSON.parse(got.text), { key: putOut.key, value: 21.5, source: "sensor-1" });

  const missing = await post(href("actions", "get", "http"), { key: "nope" });
  t.is(missing.status, 404, "NotFoundError -> 404");
  t.regex(missing.text, /no record/);

  const q = await post(href("actions", "query", "http"), {
    from: 0,
    to: "2100-01-01T00:00:00Z",
    source: "sensor-1",
  });
  t.is(q.status, 200);
  t.deepEqual(
    (JSON.parse(q.text) as { records: { key: string }[] }).records.map((r) => r.key),
    [putOut.key],
  );

  const ap = await post(href("actions", "approve", "http"), { txID: putOut.txID });
  t.is(ap.status, 200);
  t.like(JSON.parse(ap.text), { txID: putOut.txID, verified: true });
});

test("HTTP properties read the node", async (t) => {
  const { node, href } = await startFakeThing(t);
  node.mine();
  const read = async (name: string) =>
    (await (await fetch(href("properties", name, "http"))).json()) as unknown;
  t.is(await read("id"), node.id);
  t.like(await read("chain"), { height: 1, head: "block-1" });
  t.is(await read("balance"), 42);
  // No inventory has signed one yet (the explorer test reads a real one).
  t.is(await read("checkpoint"), null);
  t.like(await read("ring"), { id: node.id });
  t.deepEqual(await read("peers"), []);
  t.like(await read("stats"), { records: 0 });
});

test("invalid input gets 400 with a message and never reaches the node", async (t) => {
  const { node, href } = await startFakeThing(t);
  const putHref = href("actions", "put", "http");
  const cases: [unknown, RegExp][] = [
    ["{not json", /not valid JSON/],
    [{}, /value/],
    [{ value: null }, /value must be one of/],
    [{ value: 1, timestamp: "yesterday" }, /timestamp must be one of/],
    [{ value: 1, timestamp: -5 }, /timestamp/],
    [{ value: 1, source: 7 }, /source must be string/],
    [{ value: 1, extra: true }, /additional properties 'extra'/],
    [[1, 2], /must be object/],
    ["", /input is required/],
  ];
  for (const [body, message] of cases) {
    const res = await post(putHref, body);
    t.is(res.status, 400, JSON.stringify(body));
    t.regex(res.text, message);
  }
  const big = await post(putHref, { value: "x".repeat(70 * 1024) });
  t.is(big.status, 413);
  const q = await post(href("actions", "query", "http"), { from: 0, to: 1, limit: 0 });
  t.is(q.status, 400);
  t.regex(q.text, /limit must be >= 1/);
  const g = await post(href("actions", "get", "http"), { key: 5 });
  t.is(g.status, 400);
  t.deepEqual(node.calls, [], "the node saw none of it");
  t.is(node.records.size, 0);
});

test("CoAP: put works, invalid input is 4.00 and never reaches the node", async (t) => {
  const { node, href } = await startFakeThing(t);
  const ok = await coapRequest(withFakeToken(href("actions", "put", "coap")), "POST", { value: 3 });
  t.is(ok.code, "2.05", ok.text);
  t.is(node.records.size, 1);
  const bad = await coapRequest(withFakeToken(href("actions", "put", "coap")), "POST", {
    value: 3,
    timestamp: "soon",
  });
  t.is(bad.code, "4.00");
  t.regex(bad.text, /timestamp/);
  t.is(node.calls.length, 1);
});

test("a partial query is HTTP 206 with complete: false and the missing ranges; a whole one is 200", async (t) => {
  const { node, href } = await startFakeThing(t);
  const query = { from: 0, to: "2100-01-01T00:00:00Z" };
  const whole = await post(href("actions", "query", "http"), query);
  t.is(whole.status, 200, whole.text);
  t.like(JSON.parse(whole.text), { complete: true, missing: [], next: null });
  node.missingRanges = [{ from: "aa".repeat(32), to: "bb".repeat(32) }];
  const partial = await post(href("actions", "query", "http"), query);
  t.is(partial.status, 206, partial.text);
  t.like(JSON.parse(partial.text), { complete: false, missing: node.missingRanges });
  const coap = await coapRequest(href("actions", "query", "coap"), "POST", query);
  t.is(coap.code, "2.05");
  t.like(JSON.parse(coap.text), { complete: false, missing: node.missingRanges });
});

test("inventory: HTTP 401 without or with a bad credential, 403 with another role's, 200 with the admin's", async (t) => {
  const { node, href } = await startFakeThing(t);
  const inv = href("actions", "inventory", "http");
  const none = await post(inv, "", { authorization: "" });
  t.is(none.status, 401);
  t.regex(none.text, /inventory needs an admin credential/);
  const wrong = await post(inv, "", { authorization: "Bearer not-the-token" });
  t.is(wrong.status, 401);
  const device = await post(inv, "", { authorization: `Bearer ${ROLE_TOKENS.device}` });
  t.is(device.status, 403);
  t.deepEqual(node.calls, []);
  const ok = await post(inv, "", { authorization: `Bearer ${ADMIN_TOKEN}` });
  t.is(ok.status, 200, ok.text);
  t.like(JSON.parse(ok.text), { branches: [], unreachable: [] });
  t.deepEqual(node.calls, [{ method: "inventory" }]);
});

test("inventory over CoAP needs the token too; WebSocket offers no inventory at all", async (t) => {
  const { node, thing, href } = await startFakeThing(t);
  const inv = href("actions", "inventory", "coap");
  t.is((await coapRequest(inv, "POST")).code, "4.01");
  t.is((await coapRequest(`${inv}?access_token=wrong`, "POST")).code, "4.01");
  t.is((await coapRequest(`${inv}?access_token=${ROLE_TOKENS.endpoint}`, "POST")).code, "4.03");
  t.deepEqual(node.calls, []);
  const ok = await coapRequest(`${inv}?access_token=${ADMIN_TOKEN}`, "POST");
  t.is(ok.code, "2.05", ok.text);
  t.deepEqual(node.calls, [{ method: "inventory" }]);
  const forms = (thing.td.actions as Record<string, Affordance>).inventory!.forms;
  t.false(forms.some((f) => f.href.startsWith("ws:")));
});

test("GET and HEAD /.well-known/wot serve the TD as application/td+json", async (t) => {
  const { thing } = await startFakeThing(t);
  t.regex(thing.tdUrl, /^http:\/\/127\.0\.0\.1:\d+\/\.well-known\/wot$/);
  const get = await fetch(thing.tdUrl);
  t.is(get.status, 200);
  t.is(get.headers.get("content-type"), "application/td+json");
  const body = await get.text();
  t.deepEqual(JSON.parse(body), thing.td);
  const head = await fetch(thing.tdUrl, { method: "HEAD" });
  t.is(head.status, 200);
  t.is(head.headers.get("content-type"), "application/td+json");
  t.is(head.headers.get("content-length"), String(Buffer.byteLength(body)));
  t.is(await head.text(), "");
  const postRes = await fetch(thing.tdUrl, { method: "POST" });
  t.is(postRes.status, 405);
});

test("/things pages through the directory with Link rel=next", async (t) => {
  const { node, thing } = await startFakeThing(t);
  node.others = ["a", "b", "c", "d"].map((x) => ({ id: `urn:flowchain:node:${x}`, title: x }));
  const base = new URL("/things", thing.tdUrl);
  const seen: string[] = [];
  let next: string | undefined = `${base.href}?limit=2`;
  let pages = 0;
  while (next) {
    const res = await fetch(next);
    t.is(res.status, 200);
    t.is(res.headers.get("x-total-count"), "5");
    const page = (await res.json()) as { id: string }[];
    t.true(page.length <= 2);
    seen.push(...page.map((td) => td.id));
    const link = res.headers.get("link") ?? "";
    const m = /<([^>]+)>;\s*rel="next"/.exec(link);
    next = m ? new URL(m[1]!, base).href : undefined;
    pages++;
  }
  t.is(pages, 3);
  t.deepEqual(seen.sort(), [...node.others.map((o) => String(o.id)), String(thing.td.id)].sort());
  t.is((await fetch(`${base.href}?limit=0`)).status, 400);
  t.is((await fetch(`${base.href}?offset=-1`)).status, 400);
  t.is((await fetch(`${base.href}?limit=abc`)).status, 400);
});

test("chain and peers are observable over HTTP long-poll: a block or a membership change answers", async (t) => {
  const { node, href } = await startFakeThing(t);
  // A long-poll gives no sign when it is registered, so the change is repeated until it answers.
  const observe = async (property: string, change: () => void) => {
    const obs = href("properties", property, "http", "observeproperty");
    t.regex(obs, /\/observable$/, "the observe form is the long-poll one");
    let answered = false;
    const res = fetch(obs).then(async (r) => ((answered = true), { status: r.status, body: await r.json() }));
    // Long-poll: the server answers the next change after the request arrived, so keep changing
    // until it answers (bounded: a server that never answers fails the test, not hangs it).
    const deadline = Date.now() + 10_000;
    while (!answered) {
      if (Date.now() > deadline) throw new Error(`${property}: the long-poll never answered`);
      change();
      await new Promise((r) => setTimeout(r, 20));
    }
    return res;
  };
  const chain = await observe("chain", () => node.mine());
  t.is(chain.status, 200);
  t.true((chain.body as { height: number }).height >= 1);
  const peers = await observe("peers", () => node.emit("members", []));
  t.deepEqual(peers.body, []);
});

test("Things in one process advertise their own hosts (no process-wide address)", async (t) => {
  const { startThing } = await import("../src/wot/thing-server.js");
  const { FakeNode } = await import("./helpers/fake-node.js");
  const first = await startFakeThing(t);
  const other = await startThing(new FakeNode("other"), {
    host: "localhost",
    bind: "127.0.0.1",
    httpPort: 0,
    coapPort: 0,
    wsPort: 0,
  });
  t.teardown(() => other.stop());
  const hosts = (td: Record<string, unknown>) =>
    new Set(affordances(td).flatMap(({ a }) => a.forms.map((f) => new URL(f.href).hostname)));
  t.deepEqual([...hosts(other.td)], ["localhost"]);
  t.deepEqual([...hosts(first.thing.td)], ["127.0.0.1"]);
  t.is(other.tdUrl, `http://localhost:${other.ports.http}/.well-known/wot`);
  // Served where it was bound.
  const served = await fetch(`http://127.0.0.1:${other.ports.http}/.well-known/wot`);
  t.is(((await served.json()) as { id: string }).id, String(other.td.id));
});
