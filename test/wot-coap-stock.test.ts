import test from "ava";
import { collectEvents, startThing, stockConsumer, until } from "./wot-coap-helpers.js";

// Stock node-wot (core 0.9.2, binding-coap 0.8.16) against FlowchainCoapServer, with none of our
// client code.

test("stock node-wot CoapClientFactory invokes actions and reads properties on FlowchainCoapServer", async (t) => {
  const { thing, echoCalls } = await startThing(t);
  const wot = await stockConsumer(t);
  const consumed = await wot.consume(thing.getThingDescription());
  t.deepEqual(await (await consumed.invokeAction("echo", { n: 5 }))!.value(), { n: 5 });
  t.deepEqual(echoCalls, [{ n: 5 }]);
  t.is(await (await consumed.readProperty("label")).value(), "x");
});

test("stock node-wot subscriber gets every event as a valid value, the registration is not one", async (t) => {
  const { server, thing } = await startThing(t);
  const wot = await stockConsumer(t);
  const consumed = await wot.consume(thing.getThingDescription());
  const { values, failures, subscribed } = collectEvents(consumed, "block");
  await until(() => server.observerCount() === 1, "stock registration");
  thing.emitEvent("block", { height: 1 });
  await subscribed;
  for (let i = 2; i <= 5; i++) thing.emitEvent("block", { height: i });
  await until(() => values.length + failures.length >= 5, "5 events");
  t.deepEqual(failures, []);
  t.deepEqual(
    values,
    [1, 2, 3, 4, 5].map((height) => ({ height })),
  );
});
