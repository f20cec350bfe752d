// An endpoint that approves transactions: each record stored on the node (`transaction` event over
// CoAP) is approved with the `approve` action, and the verdict printed.
//   node dist/things/endpoint.js http://127.0.0.1:8080/.well-known/wot --credential-file .flowchain/endpoint-credential [--count 5 | --duration 60]
import { consume, fail, print, readArgs, readCredential, stopAfter } from "./consumer.js";

// The source of Flowcoin grant records (src/node/approval.ts FLOWCOIN_SOURCE).
const GRANT_SOURCE = "urn:flowchain:flowcoin";

const args = readArgs(
  "endpoint.js <TD URL> --credential-file FILE (an endpoint credential) [--count N] [--duration s]",
);
const token = await readCredential(args.flags);
if (token === undefined)
  fail("approve needs an endpoint credential: --credential-file FILE or FLOWCHAIN_CREDENTIAL_FILE");
const { thing, formIndex, close } = await consume(args.url, { token });
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
      const record = (await data.value()) as { txID: string; source?: string };
      // A grant is itself a record, and its transaction event comes back here: approving a grant
      // is refused, so grants are skipped.
      if (record.source === GRANT_SOURCE) return;
      try {
        const out = await thing.invokeAction("approve", { txID: record.txID });
        print({ approved: await out?.value() });
      } catch (err) {
        // A refusal (not verified yet, already approved, ...) is reported; the endpoint goes on.
        print({ refused: record.txID, error: String(err) });
        return;
      }
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
