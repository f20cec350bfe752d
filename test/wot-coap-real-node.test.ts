// A stock node-wot consumer (@node-wot/core + @node-wot/binding-coap, nothing of ours) against a
// real node process, over CoAP only: TD from the Well-Known URI, every property, a query whose
// answer is over 100 KiB, and the block and transaction events as valid values.
import test from "ava";
import { Cluster } from "./helpers/cluster.js";
import { authHeaders } from "./helpers/credentials.js";
import { eventually } from "./helpers/eventually.js";
import { collectEvents, stockConsumer } from "./wot-coap-helpers.js";

test("stock node-wot over CoAP only: TD from /.well-known/wot, properties, a 100 KiB query, block and transaction events", async (t) => {
  const cluster = new Cluster();
  t.teardown(() => cluster.stop());
  const node = await cluster.start();
  const coap = new URL(node.coap!);
  const wot = await stockConsumer(t);
  const td = await wot.requestThingDescription(`coap://${coap.host}/.well-known/wot`);
  const thing = await wot.consume(td);
  for (const name of ["id", "ring", "chain", "peers", "stats"]) {
    const value = await (await thing.readProperty(name)).value();
    t.not(value, undefined, name);
  }
  const blocks = collectEvents(thing, "block");
  const transactions = collectEvents(thing, "transaction");
  const pad = "r".repeat(900);
  const N = 120;
  // Stock binding-coap 0.8.16 sends no credential (its setSecurity does nothing), so the device
  // puts over HTTP with its credential; what is read and observed over CoAP needs none.
  const httpTd = (await (await fetch(node.td!)).json()) as {
    actions: { put: { forms: { href: string }[] } };
  };
  const putHref = httpTd.actions.put.forms.find((f) => f.href.startsWith("http:"))!.href;
  const auth = await authHeaders(node.dataDir, "put");
  for (let i = 0; i < N; i++) {
    const res = await fetch(putHref, {
      method: "POST",
      headers: { "content-type": "application/json", ...auth },
      body: JSON.stringify({ value: { i, pad }, source: "stock-coap" }),
    });
    t.is(res.status, 200, await res.text());
  }
  await Promise.all([blocks.subscribed, transactions.subscribed]);
  await eventually(
    async () => (transactions.values.length + transactions.failures.length >= 3 ? true : undefined),
    "transaction events",
  );
  await eventually(
    async () => (blocks.values.length + blocks.failures.length >= 1 ? true : undefined),
    "block events",
  );
  t.deepEqual(blocks.failures, []);
  t.deepEqual(transactions.failures, []);
  const answer = (await (await thing.invokeAction("query", {
    from: 0,
    to: Date.now() + 60_000,
    source: "stock-coap",
    limit: 1000,
  }))!.value()) as {
    records: unknown[];
  };
  t.is(answer.records.length, N);
  t.true(JSON.stringify(answer).length > 100 * 1024);
});
