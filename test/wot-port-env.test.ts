// node-wot's HttpServer would take its port from PORT or WOT_PORT (the CLI's PORT is the peer
// port); the Thing must listen where --http-port says.
import test from "ava";
import { createServer } from "node:net";
import { startFakeThing } from "./helpers/running-thing.js";

test("PORT and WOT_PORT in the environment do not move the HTTP server", async (t) => {
  // A port that is taken: if node-wot used it, starting would fail with EADDRINUSE.
  const blocker = createServer();
  await new Promise<void>((r) => blocker.listen(0, "127.0.0.1", r));
  t.teardown(() => blocker.close());
  const taken = String((blocker.address() as { port: number }).port);
  process.env.PORT = taken;
  process.env.WOT_PORT = taken;
  t.teardown(() => {
    delete process.env.PORT;
    delete process.env.WOT_PORT;
  });
  const { thing } = await startFakeThing(t);
  t.not(String(thing.ports.http), taken);
  t.is((await fetch(thing.tdUrl)).status, 200);
  t.is(process.env.PORT, taken, "the environment is left as it was");
});
