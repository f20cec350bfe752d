import test from "ava";
import wotCore from "@node-wot/core";
import { CoapResponseError, FlowchainCoapClientFactory } from "../src/wot/coap-client.js";
import { createSocket } from "node:dgram";
import { generate, parse } from "coap-packet";
import { CoapOption, codeString } from "./helpers/coap-messages.js";
import { ADMIN_TOKEN, RawCoapClient, runCoapClient, startThing, until } from "./wot-coap-helpers.js";

const { Servient } = wotCore;

async function consumer(
  t: Parameters<typeof startThing>[0],
  td: WoT.ThingDescription,
  credentials?: unknown,
): Promise<WoT.ConsumedThing> {
  const servient = new Servient();
  servient.addClientFactory(new FlowchainCoapClientFactory());
  if (credentials !== undefined) servient.addCredentials({ [td.id!]: credentials });
  const wot = await servient.start();
  t.teardown(() => servient.shutdown());
  return wot.consume(td);
}

test("node-wot consumer gets each block event once over CoAP and nothing after stop()", async (t) => {
  const { server, thing } = await startThing(t);
  const consumed = await consumer(t, thing.getThingDescription());
  const received: unknown[] = [];
  const sub = await consumed.subscribeEvent("block", async (data) => {
    received.push(await data.value());
  });
  t.is(server.observerCount(), 1);
  for (let i = 1; i <= 5; i++) thing.emitEvent("block", { height: i });
  await until(() => received.length >= 5, "5 events");
  thing.emitEvent("block", { height: 6 });
  await until(() => received.length >= 6, "6th event");
  t.deepEqual(
    received,
    [1, 2, 3, 4, 5, 6].map((height) => ({ height })),
  );

  await sub.stop();
  await until(() => server.observerCount() === 0, "server-side deregistration");
  const sent = server.notificationCount();
  thing.emitEvent("block", { height: 7 });
  // A full request/response through the same server after the emission: if a notification
  // were going to be sent for event 7 it would have been sent before this reply.
  t.deepEqual(await (await consumed.invokeAction("echo", { n: 1 }))!.value(), { n: 1 });
  t.is(server.notificationCount(), sent);
  t.is(received.length, 6);
});

test("node-wot consumer: invokeaction, schema errors as 4.00, admin token via credentials", async (t) => {
  const { thing, echoCalls } = await startThing(t);
  const td = thing.getThingDescription();
  const anon = await consumer(t, td);
  t.deepEqual(await (await anon.invokeAction("echo", { n: 42 }))!.value(), { n: 42 });
  const bad = await t.throwsAsync(anon.invokeAction("echo", { n: "x" }));
  t.regex(bad!.message, /4\.00/);
  t.deepEqual(echoCalls, [{ n: 42 }]);
  const refused = await t.throwsAsync(anon.invokeAction("inventory"));
  t.true(refused instanceof CoapResponseError);
  t.is((refused as CoapResponseError).code, "4.01");

  const wrong = await consumer(t, td, { token: "nope" });
  t.is(((await t.throwsAsync(wrong.invokeAction("inventory"))) as CoapResponseError).code, "4.03");
  const admin = await consumer(t, td, { token: ADMIN_TOKEN });
  t.deepEqual(await (await admin.invokeAction("inventory"))!.value(), { items: 3 });
});

test("node-wot consumer observes a property and unobserve stops it", async (t) => {
  const { server, thing } = await startThing(t);
  const consumed = await consumer(t, thing.getThingDescription());
  const seen: unknown[] = [];
  const sub = await consumed.observeProperty("counter", async (data) => {
    seen.push(await data.value());
  });
  await consumed.writeProperty("label", "a");
  await until(() => seen.length >= 1, "property change");
  t.deepEqual(seen, [1]);
  await sub.stop();
  await until(() => server.observerCount() === 0, "unobserve");
  t.is(await (await consumed.readProperty("label")).value(), "a");
});

test("libcoap coap-client deregisters when its observe duration ends", async (t) => {
  const { server, thing, port } = await startThing(t);
  const client = runCoapClient(t, ["-s", "2", "-B", "10", `coap://127.0.0.1:${port}/t/events/block`]);
  await until(() => server.observerCount() === 1, "registration");
  // The observation is established by its first response, the first event.
  thing.emitEvent("block", { height: 1 });
  await until(() => client.lines.length === 1, "first event");
  await client.exited;
  await until(() => server.observerCount() === 0, "deregistration after the client ended");
  t.pass();
});

test("a burst of events emitted in one tick all reach the consumer, in order", async (t) => {
  const { server, thing } = await startThing(t);
  const consumed = await consumer(t, thing.getThingDescription());
  const heights: number[] = [];
  await consumed.subscribeEvent("block", async (data) => {
    heights.push(((await data.value()) as { height: number }).height);
  });
  const N = 500;
  for (let i = 0; i < N; i++) thing.emitEvent("block", { height: i });
  await until(() => heights.length >= N, `${N} events`, 60_000);
  t.deepEqual(
    heights,
    Array.from({ length: N }, (_, i) => i),
  );
  t.is(server.droppedNotificationCount(), 0);
});

test("IPv6: forms use the bracketed literal and the consumer invokes over udp6", async (t) => {
  const { thing } = await startThing(t, { host: "::1", bindAddress: "::1" });
  const td = thing.getThingDescription();
  const href = (td.actions!.echo!.forms as Array<{ href: string }>)[0]!.href;
  t.regex(href, /^coap:\/\/\[::1\]:\d+\/t\/actions\/echo$/);
  const consumed = await consumer(t, td);
  t.deepEqual(await (await consumed.invokeAction("echo", { n: 6 }))!.value(), { n: 6 });
});

test("observers get a final 5.03 without Observe when the server stops; our client's subscription ends with it", async (t) => {
  const { server, thing, port } = await startThing(t);
  const raw = await RawCoapClient.open(t, port);
  const token = Buffer.from("bye");
  await raw.observe("/t/events/block", token);
  const s = new Servient();
  s.addClientFactory(new FlowchainCoapClientFactory());
  const wot = await s.start();
  t.teardown(() => s.shutdown());
  const consumed = await wot.consume(thing.getThingDescription());
  const errors: Error[] = [];
  await consumed.subscribeEvent(
    "block",
    () => {},
    (err) => errors.push(err),
  );
  await until(() => server.observerCount() === 2, "both registrations");
  await server.stop();
  const last = await raw.receive((m) => m.token.equals(token));
  t.is(codeString(last.code), "5.03");
  t.is(
    last.options.find((o) => o.number === CoapOption.Observe),
    undefined,
  );
  await until(() => errors.length >= 1, "subscription error");
  t.is(errors.length, 1, errors.map((e) => e.message).join("; "));
  t.true(errors[0] instanceof CoapResponseError);
  t.is((errors[0] as CoapResponseError).code, "5.03");
});

test("our client times out requests to a silent endpoint and ends subscriptions to a server gone silent", async (t) => {
  // A "server" that acknowledges the event registration and then never answers anything.
  const silent = createSocket("udp4");
  await new Promise<void>((resolve) => silent.bind(0, "127.0.0.1", resolve));
  t.teardown(() => new Promise<void>((resolve) => silent.close(() => resolve())));
  let acked = false;
  silent.on("message", (msg, from) => {
    const p = parse(msg);
    if (acked || p.code !== "0.01") return;
    acked = true;
    silent.send(generate({ code: "0.00", ack: true, messageId: p.messageId }), from.port, from.address);
  });
  const port = silent.address().port;
  const td = {
    "@context": "https://www.w3.org/2022/wot/td/v1.1",
    title: "silent",
    securityDefinitions: { nosec_sc: { scheme: "nosec" } },
    security: ["nosec_sc"],
    properties: { p: { type: "string", forms: [{ href: `coap://127.0.0.1:${port}/p` }] } },
    events: {
      e: {
        data: { type: "string" },
        forms: [{ href: `coap://127.0.0.1:${port}/e`, op: ["subscribeevent"] }],
      },
    },
  } as unknown as WoT.ThingDescription;
  const s = new Servient();
  s.addClientFactory(new FlowchainCoapClientFactory({ timeoutMs: 2000, livenessIntervalMs: 300 }));
  const wot = await s.start();
  t.teardown(() => s.shutdown());
  const consumed = await wot.consume(td);
  const errors: Error[] = [];
  await consumed.subscribeEvent(
    "e",
    () => {},
    (err) => errors.push(err),
  );
  await until(() => errors.length === 1, "liveness failure", 5000);
  t.regex(errors[0]!.message, /has not answered/);
  const err = await t.throwsAsync(consumed.readProperty("p"));
  t.regex(err!.message, /no answer .* in 2000 ms/);
});
