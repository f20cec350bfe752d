// The Thing refuses what the ledger would store wrongly: ISO timestamps that name no real instant
// (2024-02-30 would become 1 March) and numbers JSON.parse has already rounded (beyond ±(2^53-1)),
// with 400 / 4.00 over HTTP and CoAP before the node is called (the real node: wot-real-node.test.ts).
import test from "ava";
import { fakeAuth, startFakeThing, withFakeToken } from "./helpers/running-thing.js";
import { coapRequest } from "./helpers/coap-request.js";

/** POSTs a body sent as is when it is a string, so number literals reach the server unrounded. */
async function post(href: string, body: unknown) {
  const res = await fetch(href, {
    method: "POST",
    headers: { "content-type": "application/json", ...fakeAuth(href) },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
  return { status: res.status, text: await res.text() };
}

const IMPOSSIBLE: [string, RegExp][] = [
  ["2024-02-30T00:00:00Z", /2024-02 has no day 30/],
  ["2023-02-29T00:00:00Z", /2023-02 has no day 29/],
  ["2024-13-01T00:00:00Z", /month 13/],
  ["2024-01-01T24:00:00Z", /hour 24/],
  ["2024-01-01T23:60:00Z", /minute 60/],
  ["2024-01-01T00:00:00+15:00", /beyond ±14:00/],
  ["2016-12-31T23:59:60Z", /leap second/],
];

// 2^53 + 1 as the device wrote it; JSON.parse yields 2^53.
const UNSAFE: [string, RegExp][] = [
  ['{"value": {"n": 9007199254740993}}', /value\.n: 9007199254740992 \(as parsed\) is outside/],
  [
    '{"value": [1, {"deep": -9007199254740992}]}',
    /value\[1\]\.deep: -9007199254740992 \(as parsed\) is outside/,
  ],
  ['{"value": 1e300}', /value: 1e\+300 \(as parsed\) is outside/],
  ['{"value": 1, "timestamp": 9007199254740993}', /timestamp: 9007199254740992 \(as parsed\) is outside/],
];

test("HTTP: impossible ISO dates are 400 naming the problem, on put and query; 2024-02-29 is fine", async (t) => {
  const { node, href } = await startFakeThing(t);
  for (const [ts, why] of IMPOSSIBLE) {
    const put = await post(href("actions", "put", "http"), { value: 1, timestamp: ts });
    t.is(put.status, 400, ts);
    t.regex(put.text, why, ts);
    for (const bounds of [
      { from: ts, to: 0 },
      { from: 0, to: ts },
    ]) {
      const q = await post(href("actions", "query", "http"), bounds);
      t.is(q.status, 400, JSON.stringify(bounds));
      t.regex(q.text, why);
    }
  }
  t.deepEqual(node.calls, [], "the node saw none of it");
  const leap = await post(href("actions", "put", "http"), { value: 1, timestamp: "2024-02-29T00:00:00Z" });
  t.is(leap.status, 200, leap.text);
  const q = await post(href("actions", "query", "http"), {
    from: "2024-02-29T00:00:00+14:00",
    to: "2024-02-29T23:59:59.999-14:00",
  });
  t.is(q.status, 200, q.text);
  t.is((JSON.parse(q.text) as { records: unknown[] }).records.length, 1);
});

test("HTTP: numbers beyond ±(2^53-1) are 400 naming their path; the largest safe one is stored exactly", async (t) => {
  const { node, href } = await startFakeThing(t);
  for (const [body, why] of UNSAFE) {
    const res = await post(href("actions", "put", "http"), body);
    t.is(res.status, 400, body);
    t.regex(res.text, why, body);
  }
  const q = await post(href("actions", "query", "http"), '{"from": 0, "to": 9007199254740993}');
  t.is(q.status, 400);
  t.regex(q.text, /query: to: 9007199254740992 \(as parsed\) is outside/);
  t.deepEqual(node.calls, [], "the node saw none of it");
  const ok = await post(href("actions", "put", "http"), '{"value": {"n": 9007199254740991, "x": -0.5}}');
  t.is(ok.status, 200, ok.text);
  t.deepEqual([...node.records.values()][0]?.value, { n: Number.MAX_SAFE_INTEGER, x: -0.5 });
});

test("CoAP: impossible dates and unsafe numbers are 4.00 and never reach the node", async (t) => {
  const { node, href } = await startFakeThing(t);
  const put = withFakeToken(href("actions", "put", "coap"));
  for (const [ts, why] of IMPOSSIBLE) {
    const res = await coapRequest(put, "POST", { value: 1, timestamp: ts });
    t.is(res.code, "4.00", ts);
    t.regex(res.text, why, ts);
  }
  for (const [body, why] of UNSAFE) {
    const res = await coapRequest(put, "POST", body);
    t.is(res.code, "4.00", body);
    t.regex(res.text, why, body);
  }
  const q = await coapRequest(href("actions", "query", "coap"), "POST", { from: "2024-02-30", to: 0 });
  t.is(q.code, "4.00");
  t.deepEqual(node.calls, [], "the node saw none of it");
  const ok = await coapRequest(
    put,
    "POST",
    '{"value": 9007199254740991, "timestamp": "2024-02-29T23:59:59Z"}',
  );
  t.is(ok.code, "2.05", ok.text);
  t.like([...node.records.values()][0], {
    value: Number.MAX_SAFE_INTEGER,
    timestamp: Date.UTC(2024, 1, 29, 23, 59, 59),
  });
});
