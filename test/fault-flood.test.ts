// A node restarted while its peers' ports are flooded with idle, never-authenticating WebSocket
// connections (1,000 from one address) still joins the ring: admission evicts the oldest silent
// connection rather than turning members away (src/net/admission.ts).
import test from "ava";
import { Cluster } from "./helpers/cluster.js";
import { Flooder } from "./helpers/flooder.js";

test("a node restarted during a flood of 1,000 idle connections from one address joins the ring", async (t) => {
  t.timeout(300_000);
  const cluster = new Cluster();
  t.teardown(() => cluster.stop());
  const { first, token } = await cluster.ring(3, { wot: false });
  await cluster.waitForRing(token);
  const [, second, third] = cluster.nodes;
  await cluster.kill(third, "SIGTERM");

  // Half the flood on each node that stays up, so a rejoin finds no quiet door.
  const floods = [first, second].map((n) => new Flooder(n.peer, 500).start(t));
  // Over TLS each flood socket costs the node a handshake, so the flood is up once it cycles
  // (the 64-per-address budget is full and evicting), not once 500 sockets have opened.
  await Promise.all(
    // A socket evicted before its upgrade is reset, not closed with 4003: both count.
    floods.map((f) =>
      f.until(() => f.evictions + f.resets >= 64, "the flood to fill the budget and cycle", 120_000),
    ),
  );
  const started = Date.now();
  const back = await cluster.restart(third, { join: first.peer, token });
  await cluster.waitForRing(token, [first, second, back], 60_000);
  const opens = floods.reduce((n, f) => n + f.opens, 0);
  const evicted = floods.reduce((n, f) => n + f.evictions, 0);
  t.log(
    `one ring ${((Date.now() - started) / 1000).toFixed(1)} s after the restart; flood sockets opened ${opens}, evicted ${evicted}`,
  );
  t.true(evicted > 0, "the flood filled the handshake budget");
});
