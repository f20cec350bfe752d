// A Thing that cannot start (its HTTP port is taken) rejects and leaves no server listening.
// Its own file: it counts this process's listening sockets.
import test from "ava";
import { createServer } from "node:net";
import { startThing } from "../src/wot/thing-server.js";
import { FakeNode } from "./helpers/fake-node.js";

const listening = () =>
  process.getActiveResourcesInfo().filter((r) => r === "TCPServerWrap" || r === "UDPWrap").length;

test("a taken HTTP port rejects startThing and the CoAP and WebSocket servers are closed again", async (t) => {
  const blocker = createServer();
  await new Promise<void>((r) => blocker.listen(0, "127.0.0.1", r));
  t.teardown(() => blocker.close());
  const before = listening();
  const port = (blocker.address() as { port: number }).port;
  await t.throwsAsync(
    startThing(new FakeNode(), { host: "127.0.0.1", httpPort: port, coapPort: 0, wsPort: 0 }),
    {
      message: /EADDRINUSE/,
    },
  );
  // Sockets leave the count when their close completes, which can trail stop() a little; nothing
  // signals it, so poll (bounded) rather than sleep a fixed time.
  for (let i = 0; i < 200 && listening() > before; i++) await new Promise((r) => setTimeout(r, 10));
  t.is(listening(), before);
});
