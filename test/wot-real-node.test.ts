// The Thing over the lead's real FlowchainNode (LevelDB in a temp dir, real peer socket): the same
// TD checks and actions as over the fake node, so the two agree on the API.
import test, { type ExecutionContext } from "ava";
import WebSocket from "ws";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FlowchainNode } from "../src/node/flowchain-node.js";
import { authHeaders, readCredential } from "./helpers/credentials.js";
import { silentLogger } from "../src/log.js";
import { startThing } from "../src/wot/thing-server.js";
import { playgroundAssertions, playgroundValidate } from "./helpers/td-validation.js";

/** POSTs to an action's href with the credential it needs from the node's data directory. */
async function post(href: string, body: unknown, headers: Record<string, string> = {}) {
  const action = /\/actions\/([^/]+)$/.exec(new URL(href).pathname)?.[1] ?? "";
  const auth = credentialDir === undefined ? {} : await authHeaders(credentialDir, action);
  const res = await fetch(href, {
    method: "POST",
    headers: { "content-type": "application/json", ...auth, ...headers },
    // A string is sent as is, so number literals reach the server unrounded.
    body: body === undefined ? "" : typeof body === "string" ? body : JSON.stringify(body),
  });
  return { status: res.status, text: await res.text() };
}

/** The data directory whose credentials post() sends (one real node per test: the tests run serially). */
let credentialDir: string | undefined;

/** A real node (LevelDB in a temp dir, a peer socket) and its Thing, torn down after the test. */
async function realThing(t: ExecutionContext) {
  const dir = await mkdtemp(join(tmpdir(), "flowchain-wot-"));
  credentialDir = dir;
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const node = await FlowchainNode.start({ dataDir: dir, host: "127.0.0.1", port: 0, log: silentLogger });
  t.teardown(() => node.stop());
  const thing = await startThing(node, { host: "127.0.0.1", httpPort: 0, coapPort: 0, wsPort: 0 });
  t.teardown(() => thing.stop());
  return { node, thing, dir };
}

test.serial(
  "a real node's Thing: valid TD, put/get/query over HTTP, directory, the admin token passes the inventory door",
  async (t) => {
    const { node, thing, dir } = await realThing(t);
    t.is(thing.td.id, `urn:flowchain:node:${node.id}`);

    const { report, log } = await playgroundValidate(thing.td);
    t.false(Object.values(report).includes("failed"), log.join("\n"));
    t.deepEqual(
      (await playgroundAssertions(thing.td)).filter((r) => r.Status === "fail"),
      [],
    );

    const action = (name: string) =>
      (thing.td.actions as Record<string, { forms: { href: string }[] }>)[name]!.forms.find((f) =>
        f.href.startsWith("http:"),
      )!.href;
    const put = await post(action("put"), {
      value: { celsius: 21.5 },
      source: "probe",
      timestamp: "2024-05-01T10:00:00Z",
    });
    t.is(put.status, 200, put.text);
    const { key } = JSON.parse(put.text) as { key: string };
    const got = await post(action("get"), { key });
    t.is(got.status, 200, got.text);
    t.like(JSON.parse(got.text), { key });
    const q = await post(action("query"), {
      from: "2024-05-01T00:00:00Z",
      to: "2024-05-02T00:00:00Z",
      source: "probe",
    });
    t.is(q.status, 200, q.text);
    t.like(JSON.parse(q.text), { complete: true, missing: [], next: null });
    t.is((JSON.parse(q.text) as { records: unknown[] }).records.length, 1);
    t.is((await post(action("put"), { value: 1, timestamp: "not a time" })).status, 400);

    const dirRes = await fetch(new URL("/things", thing.tdUrl));
    t.deepEqual(
      ((await dirRes.json()) as { id: string }[]).map((td) => td.id),
      [thing.td.id],
    );

    t.is((await post(action("inventory"), undefined, { authorization: "" })).status, 401);
    t.is((await post(action("inventory"), undefined, { authorization: "Bearer nope" })).status, 401);
    const device = await readCredential(dir, "device");
    t.is((await post(action("inventory"), undefined, { authorization: `Bearer ${device}` })).status, 403);
    const token = await readCredential(dir, "admin");
    const inv = await post(action("inventory"), undefined, { authorization: `Bearer ${token}` });
    t.is(inv.status, 200, inv.text);
    t.like(JSON.parse(inv.text), { unreachable: [], invalidBlocks: [] });
  },
);

test.serial(
  "a real node refuses 2024-02-30 and 2^53 with 400; 2024-02-29 and 2^53-1 round-trip exactly",
  async (t) => {
    const { thing } = await realThing(t);
    const href = (name: string) =>
      (thing.td.actions as Record<string, { forms: { href: string }[] }>)[name]!.forms.find((f) =>
        f.href.startsWith("http:"),
      )!.href;
    const bad = await post(href("put"), { value: 1, timestamp: "2024-02-30T00:00:00Z" });
    t.is(bad.status, 400, bad.text);
    t.regex(bad.text, /2024-02 has no day 30/);
    const big = await post(href("put"), '{"value": {"n": 9007199254740993}}');
    t.is(big.status, 400, big.text);
    t.regex(big.text, /value\.n: 9007199254740992 \(as parsed\) is outside/);
    const put = await post(
      href("put"),
      '{"value": {"n": 9007199254740991}, "timestamp": "2024-02-29T12:00:00Z"}',
    );
    t.is(put.status, 200, put.text);
    const { key } = JSON.parse(put.text) as { key: string };
    const got = await post(href("get"), { key });
    t.is(got.status, 200, got.text);
    t.true(got.text.includes('"n":9007199254740991'), got.text);
    t.like(JSON.parse(got.text), { timestamp: Date.UTC(2024, 1, 29, 12) });
  },
);

test.serial("a real node's block events reach a WebSocket subscriber once each", async (t) => {
  const { node, thing, dir } = await realThing(t);
  const forms = (thing.td.events as Record<string, { forms: { href: string }[] }>).block!.forms;
  const ws = new WebSocket(forms.find((f) => f.href.startsWith("ws:"))!.href);
  t.teardown(() => ws.close());
  await new Promise((r, j) => ws.once("open", r).once("error", j));
  const fromNode: number[] = [];
  node.on("block", (b: { height: number }) => fromNode.push(b.height));
  const received: number[] = [];
  const twoBlocks = new Promise<void>((resolve) =>
    ws.on("message", (d) => {
      received.push((JSON.parse(d.toString()) as { height: number }).height);
      if (received.length === 2) resolve();
    }),
  );
  // The node seals records into blocks: keep putting until two blocks have come through.
  const put = (thing.td.actions as Record<string, { forms: { href: string }[] }>).put!.forms[0]!.href;
  let done = false;
  void twoBlocks.then(() => (done = true));
  for (let i = 0; !done; i++) {
    const res = await fetch(put, {
      method: "POST",
      headers: { "content-type": "application/json", ...(await authHeaders(dir, "put")) },
      body: `{"value":${i}}`,
    });
    t.is(res.status, 200);
    await Promise.race([twoBlocks, new Promise((r) => setTimeout(r, 100))]);
  }
  t.deepEqual(received, fromNode.slice(0, 2));
  t.true(received[1]! > received[0]!);
});
