// A stock node-wot 0.9.2 consumer (core + binding-http's HttpsClientFactory, nothing of ours) of a
// node served over TLS, run as its own process so the test's CA is trusted the way a user would
// trust it: NODE_EXTRA_CA_CERTS, read by Node at start (node-wot's SSE client takes no CA option).
// Usage: FLOWCHAIN_CREDENTIAL=... node https-consumer.js TD_URL (the TD's Thing-level bearer scheme
// makes node-wot send a credential; any role's reads). Prints one JSON line per step: the TD's id, the `id`
// property, "subscribed" (to `transaction` over the event's first form), then the first event.
import wotCore from "@node-wot/core";
import bindingHttp from "@node-wot/binding-http";

const { Servient } = wotCore;
const { HttpsClientFactory } = bindingHttp;

const print = (line: Record<string, unknown>) => process.stdout.write(JSON.stringify(line) + "\n");

async function main(tdUrl: string): Promise<void> {
  const servient = new Servient();
  // Only https: a form the node still advertised as plain http would find no client here.
  servient.addClientFactory(new HttpsClientFactory());
  const wot = await servient.start();
  const td = await wot.requestThingDescription(tdUrl);
  print({ td: td.id });
  if (td.id !== undefined) servient.addCredentials({ [td.id]: { token: process.env.FLOWCHAIN_CREDENTIAL } });
  const thing = await wot.consume(td);
  print({ id: await (await thing.readProperty("id")).value() });
  const done = new Promise<void>((resolve, reject) => {
    void thing
      .subscribeEvent(
        "transaction",
        async (data) => {
          print({ event: await data.value() });
          resolve();
        },
        (err) => reject(err),
      )
      .then(() => print({ subscribed: true }), reject);
  });
  await done;
  await servient.shutdown();
}

main(process.argv[2] ?? "").then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`${String(err)}\n`);
    process.exit(1);
  },
);
