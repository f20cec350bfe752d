// Watches a node's new Virtual Blocks: subscribes to the `block` event over CoAP (RFC 7641 observe).
//   node dist/things/watcher.js http://127.0.0.1:8080/.well-known/wot [--count 5 | --duration 60]
import { consume, print, readArgs, readCredential, stopAfter } from "./consumer.js";

const args = readArgs("watcher.js <TD URL> [--count N] [--duration s]");
// Watching needs no credential; one given (--credential-file) is sent all the same.
const token = await readCredential(args.flags);
const { thing, formIndex, close } = await consume(args.url, token === undefined ? undefined : { token });
stopAfter(args.duration, close);
let seen = 0;
const subscription = await thing.subscribeEvent(
  "block",
  async (data) => {
    print({ block: await data.value() });
    if (++seen >= args.count) {
      await subscription.stop({ formIndex: formIndex("events", "block", "coap") });
      await close();
    }
  },
  (err) => print({ error: String(err) }),
  { formIndex: formIndex("events", "block", "coap") },
);
// Tells a person (and a test) that blocks mined from now on will be shown.
print({ subscribed: "block" });
