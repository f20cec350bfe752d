import test from "ava";
import wotCore from "@node-wot/core";
import { CoapResponseError, FlowchainCoapClientFactory } from "../src/wot/coap-client.js";
import { ADMIN_TOKEN, runCoapClient, startThing, until } from "./wot-coap-helpers.js";

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
