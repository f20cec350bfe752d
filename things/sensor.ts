// A sensor that streams readings into Flowchain with the `put` action over CoAP.
//   node dist/things/sensor.js http://127.0.0.1:8080/.well-known/wot --credential-file .flowchain/device-credential
//     [--count 10 | --duration 60] [--interval 1000] [--source kitchen]
import { setTimeout as sleep } from "node:timers/promises";
import { consume, fail, print, readArgs, readCredential, stopAfter } from "./consumer.js";

const USAGE =
  "sensor.js <TD URL> --credential-file FILE (a device credential) [--count N] [--duration s] [--interval ms] [--source name]";
const args = readArgs(USAGE, {
  interval: { type: "string" },
  source: { type: "string" },
});
const interval = Number(args.flags.interval ?? 1000);
const source = String(args.flags.source ?? `sensor-${process.pid}`);
if (!(interval >= 0)) fail("--interval must be a number of milliseconds");

const token = await readCredential(args.flags);
if (token === undefined)
  fail("put needs a device credential: --credential-file FILE or FLOWCHAIN_CREDENTIAL_FILE");
const { thing, formIndex, close } = await consume(args.url, { token });
stopAfter(args.duration, close);
const coapPut = { formIndex: formIndex("actions", "put", "coap") };
for (let i = 0; i < args.count; i++) {
  // A made-up temperature; a real sensor would read its hardware here.
  const value = Math.round((21 + 3 * Math.sin(Date.now() / 60_000)) * 100) / 100;
  const out = await thing.invokeAction("put", { value, source, timestamp: Date.now() }, coapPut);
  print({ put: value, ...((await out?.value()) as object) });
  if (i + 1 < args.count) await sleep(interval);
}
await close();
