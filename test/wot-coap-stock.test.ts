import test from "ava";
import wotCore from "@node-wot/core";
import bindingCoap from "@node-wot/binding-coap";
import { startThing } from "./wot-coap-helpers.js";

// The stock client is fine for request/response against FlowchainCoapServer. Its event
// subscription is not (it hands the empty registration reply to the listener as an event and
// keeps delivering after stop()); FlowchainCoapClientFactory exists for that, see
// wot-coap-client.test.ts.

const { Servient } = wotCore;
const { CoapClientFactory } = bindingCoap;

test("stock node-wot CoapClientFactory invokes actions and reads properties on FlowchainCoapServer", async (t) => {
  const { thing, echoCalls } = await startThing(t);
  const servient = new Servient();
  servient.addClientFactory(new CoapClientFactory());
  const wot = await servient.start();
  t.teardown(() => servient.shutdown());
  const consumed = await wot.consume(thing.getThingDescription());
  t.deepEqual(await (await consumed.invokeAction("echo", { n: 5 }))!.value(), { n: 5 });
  t.deepEqual(echoCalls, [{ n: 5 }]);
  t.is(await (await consumed.readProperty("label")).value(), "x");
});
