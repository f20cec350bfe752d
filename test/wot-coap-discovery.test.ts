// Discovery over CoAP: the Well-Known URI /.well-known/wot (W3C WoT Discovery) and CoRE Link
// Format filtering on /.well-known/core (RFC 6690 §4.1, ETSI plugtest TD_COAP_LINK_01/02),
// checked with libcoap and a stock node-wot consumer.
import test from "ava";
import { CoapOption, codeString, readUint } from "./helpers/coap-messages.js";
import { RawCoapClient, runCoapClient, startThing, stockConsumer } from "./wot-coap-helpers.js";

async function libcoapLines(t: Parameters<typeof startThing>[0], url: string): Promise<string> {
  const run = runCoapClient(t, ["-B", "10", url]);
  await run.exited;
  return run.lines.join("");
}

test("/.well-known/wot serves the TD as application/td+json (432); stock node-wot starts from it", async (t) => {
  const { thing, port } = await startThing(t);
  const raw = await RawCoapClient.open(t, port);
  const { first, body } = await raw.getBlockwise("/.well-known/wot");
  t.is(codeString(first.code), "2.05");
  t.is(readUint(first.options.find((o) => o.number === CoapOption.ContentFormat)!.value), 432);
  t.deepEqual(JSON.parse(body.toString()), thing.getThingDescription());
  t.is(codeString((await raw.request("POST", "/.well-known/wot")).code), "4.05");

  const wot = await stockConsumer(t);
  const td = await wot.requestThingDescription(`coap://127.0.0.1:${port}/.well-known/wot`);
  const consumed = await wot.consume(td);
  t.is(await (await consumed.readProperty("label")).value(), "x");
});

test("TD_COAP_LINK_01/02: /.well-known/core lists the Thing and honours one filter query", async (t) => {
  const { port, servient } = await startThing(t);
  const base = `coap://127.0.0.1:${port}/.well-known/core`;
  const thingLink = '</t>;rt="wot.thing";ct=432;title="t"';
  t.is(await libcoapLines(t, base), thingLink);
  t.is(await libcoapLines(t, `${base}?rt=wot.thing`), thingLink);
  t.is(await libcoapLines(t, `${base}?rt=wot.*`), thingLink);
  t.is(await libcoapLines(t, `${base}?href=/t`), thingLink);
  t.is(await libcoapLines(t, `${base}?ct=432`), thingLink);
  const raw = await RawCoapClient.open(t, port);
  for (const query of ["rt=nomatch", "href=/x*", "ct=50", "foo=bar"]) {
    const res = await raw.request("GET", "/.well-known/core", { query });
    t.is(codeString(res.code), "2.05", query);
    t.is(res.payload.length, 0, query);
  }

  // A Thing Description Directory exposed beside the node is listed as wot.directory, and
  // /.well-known/wot keeps serving the node's own TD.
  const wot = await servient.start();
  const dir = await wot.produce({ title: "directory", "@type": "ThingDirectory" } as WoT.ExposedThingInit);
  await dir.expose();
  const dirLink = '</directory>;rt="wot.directory";ct=432;title="directory"';
  t.is(await libcoapLines(t, `${base}?rt=wot.directory`), dirLink);
  t.is(await libcoapLines(t, base), `${thingLink},${dirLink}`);
  const own = await raw.getBlockwise("/.well-known/wot");
  t.is((JSON.parse(own.body.toString()) as { title: string }).title, "t");
});
