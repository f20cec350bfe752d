// An endpoint that approves transactions: each record stored on the node (`transaction` event over
// CoAP) is approved with the `approve` action, and the verdict printed.
//   node dist/things/endpoint.js http://127.0.0.1:8080/.well-known/wot [--count 5 | --duration 60]
import { consume, print, readArgs, stopAfter } from "./consumer.js";

const args = readArgs("endpoint.js <TD URL> [--count N] [--duration s]");
const { thing, formIndex, close } = await consume(args.url);
stopAfter(args.duration, close);
const eventForm = { formIndex: formIndex("events", "transaction", "coap") };
let handled = 0;
// Approvals run one at a time, in the order the records arrived.
let queue = Promise.resolve();
const subscription = await thing.subscribeEvent(
  "transaction",
  (data) => {
    queue = queue.then(async () => {
      if (handled >= args.count) return;
      const record = (await data.value()) as { txID: string };
      const out = await thing.invokeAction("approve", { txID: record.txID });
      print({ approved: await out?.value() });
      if (++handled >= args.count) {
        await subscription.stop(eventForm);
        await close();
      }
    });
  },
  (err) => print({ error: String(err) }),
  eventForm,
);
print({ subscribed: "transaction" });
