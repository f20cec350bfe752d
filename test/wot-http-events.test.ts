// The Thing's events over HTTP as a stock node-wot 0.9.2 consumer (core + binding-http, nothing of
// ours) meets them: its default (first) form is Server-Sent Events and loses nothing in a burst;
// long-poll, the later form, answers one decodable event per poll; open streams are bounded.
import test from "ava";
import { EventEmitter } from "node:events";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import wotCore from "@node-wot/core";
import bindingHttp from "@node-wot/binding-http";
import { startFakeThing } from "./helpers/running-thing.js";
import { ROLE_TOKENS } from "./helpers/fake-node.js";
import { eventually } from "./helpers/eventually.js";
import { HttpEventHub } from "../src/wot/http-events.js";

const { Servient } = wotCore;
const { HttpClientFactory } = bindingHttp;

/** `credentials` by Thing id: the TD's Thing-level bearer scheme makes node-wot send one. */
async function stockConsumer(t: import("ava").ExecutionContext, credentials: Record<string, unknown> = {}) {
  const servient = new Servient();
  servient.addCredentials(credentials);
  servient.addClientFactory(new HttpClientFactory());
  const wot = await servient.start();
  t.teardown(() => servient.shutdown());
  return wot;
}

test("a stock consumer's default event form is SSE and gets a burst of 1,000 events, all in order", async (t) => {
  const { node, thing } = await startFakeThing(t);
  const forms = (thing.td.events as Record<string, { forms: { href: string; subprotocol?: string }[] }>)
    .transaction!.forms;
  t.is(forms[0]!.subprotocol, "sse");
  t.true(
    forms.some((f) => f.subprotocol === "longpoll"),
    "long-poll is still offered, later",
  );

  const wot = await stockConsumer(t, { [String(thing.td.id)]: { token: ROLE_TOKENS.device } });
  const consumed = await wot.consume((await (await fetch(thing.tdUrl)).json()) as WoT.ThingDescription);
  const got: number[] = [];
  const failures: string[] = [];
  // No formIndex: the consumer picks the first form, as a WoT developer's shortest watcher does.
  const sub = await consumed.subscribeEvent("transaction", async (data) => {
    try {
      got.push(((await data.value()) as { n: number }).n);
    } catch (err) {
      failures.push(String(err));
    }
  });
  t.teardown(() => sub.stop().catch(() => undefined));
  const warnings: string[] = [];
  const onWarning = (w: Error) => warnings.push(w.name);
  process.on("warning", onWarning);
  t.teardown(() => void process.off("warning", onWarning));

  // Emitted synchronously, back to back: the worst burst a node can produce.
  for (let n = 0; n < 1000; n++) node.emit("transaction", { key: `k${n}`, txID: `t${n}`, n });
  await eventually(async () => got.length >= 1000 || failures.length > 0, "1,000 events", 30_000);
  t.deepEqual(failures, []);
  t.deepEqual(
    got,
    Array.from({ length: 1000 }, (_, n) => n),
  );
  t.false(warnings.includes("MaxListenersExceededWarning"));
});

test("SSE: a client that reconnects with Last-Event-ID gets what it missed", async (t) => {
  const { node, href } = await startFakeThing(t);
  const url = href("events", "block", "http");
  // The stream is open once its headers have arrived (the server flushes them at once).
  const open = async (headers: Record<string, string> = {}) => {
    const ac = new AbortController();
    t.teardown(() => ac.abort());
    const res = await fetch(url, {
      headers: { accept: "text/event-stream", ...headers },
      signal: AbortSignal.any([ac.signal, AbortSignal.timeout(20_000)]),
    });
    t.is(res.headers.get("content-type"), "text/event-stream");
    t.is(res.headers.get("access-control-allow-origin"), "*");
    const reader = res.body!.getReader();
    return async (until: (text: string) => boolean) => {
      let text = "";
      while (!until(text)) {
        const { value, done } = await reader.read();
        if (done) break;
        text += Buffer.from(value).toString("utf8");
      }
      ac.abort();
      return text;
    };
  };
  const first = await open();
  node.mine();
  const text = await first((s) => s.includes('"height":1'));
  const lastId = /id: (\S+)\ndata: \{[^\n]*"height":1[,}]/.exec(text)![1]!;
  // Missed while disconnected:
  node.mine();
  node.mine();
  const again = await open({ "last-event-id": lastId });
  const replayed = await again((s) => s.includes('"height":3'));
  t.regex(replayed, /"height":2[,}][\s\S]*"height":3[,}]/);
  t.notRegex(replayed, /"height":1[,}]/);
});

test("long-poll: near-simultaneous events each answer one poll with one decodable body", async (t) => {
  const { node, href } = await startFakeThing(t);
  const url = href("events", "transaction", "http");
  t.is((await fetch(url, { method: "HEAD" })).status, 202);
  const polls = Array.from({ length: 20 }, () => fetch(url).then(async (r) => [r.status, await r.text()]));
  // Keep emitting pairs until every poll has answered: a poll registers when its request arrives.
  let answered = 0;
  void Promise.all(polls).then(() => (answered = polls.length));
  await eventually(
    async () => {
      node.emit("transaction", { key: "a", txID: "a" });
      node.emit("transaction", { key: "b", txID: "b" });
      return answered === polls.length;
    },
    "every poll answered",
    20_000,
    20,
  );
  for (const [status, body] of await Promise.all(polls)) {
    t.is(status, 200);
    t.notThrows(() => JSON.parse(String(body)), String(body));
  }
});

test("event streams are bounded: beyond the cap a client gets 503 with Retry-After, and a slot frees on close", async (t) => {
  const node = new EventEmitter();
  const hub = new HttpEventHub(node, ["block"], { maxOpen: 2 });
  const server = createServer((req, res) => hub.serve("block", req, res));
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  t.teardown(() => {
    hub.stop();
    server.closeAllConnections();
    server.close();
  });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  const open = () => {
    const ac = new AbortController();
    return { ac, res: fetch(url, { headers: { accept: "text/event-stream" }, signal: ac.signal }) };
  };
  const a = open();
  const b = open();
  t.is((await a.res).status, 200);
  t.is((await b.res).status, 200);
  const refused = await fetch(url, { headers: { accept: "text/event-stream" } });
  t.is(refused.status, 503);
  t.is(refused.headers.get("retry-after"), "5");
  t.is(refused.headers.get("content-type"), "application/problem+json");
  a.ac.abort();
  await eventually(async () => {
    const again = open();
    const res = await again.res;
    again.ac.abort();
    return res.status === 200;
  }, "a slot to free");
  b.ac.abort();
  t.pass();
});
