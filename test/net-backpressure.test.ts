// A peer that stops reading must cost bounded memory, and must get every answer once it reads again.
import test from "ava";
import { createDevNetwork, RawPeer } from "../src/net/dev-network.js";

/** There is no event for "the server is now blocked on its send buffer": check once per loop turn. */
async function until(cond: () => boolean, limitMs = 20_000): Promise<boolean> {
  const end = Date.now() + limitMs;
  while (!cond()) {
    if (Date.now() > end) return false;
    await new Promise((r) => setImmediate(r));
  }
  return true;
}

test("replies wait at the high-water mark while the peer does not read, then all arrive", async (t) => {
  const net = createDevNetwork();
  const highWaterBytes = 256 * 1024;
  const server = await net.start({ highWaterBytes, heartbeatMs: 0 }, t);
  const big = "x".repeat(500_000);
  let answered = 0;
  server.handle("big", async () => {
    answered++;
    return big;
  });
  const peer = new RawPeer(server.addr);
  t.teardown(() => peer.ws.terminate());
  await peer.handshake(net.identity());
  peer.ws.pause();
  // 75 MB of answers: more than loopback socket buffers absorb (they may grow to ~36 MB).
  const n = 150;
  for (let i = 0; i < n; i++) peer.send({ t: "req", id: i, m: "big", p: null });
  t.true(
    await until(() => answered === n && server.stats().blockedSends > 0),
    JSON.stringify(server.stats()),
  );
  const held = server.stats();
  // One frame may overshoot the mark (the check is before the send); nothing else piles up in ws.
  t.true(held.bufferedBytes <= highWaterBytes + 2 * big.length, JSON.stringify(held));

  peer.ws.resume();
  const ids = new Set<unknown>();
  for (let i = 0; i < n; i++) {
    const f = await peer.next();
    t.is(f.t, "res");
    t.is((f.r as string).length, big.length);
    ids.add(f.id);
  }
  t.is(ids.size, n);
  t.true(await until(() => server.stats().blockedSends === 0 && server.stats().inflight === 0));
});

test("a peer that stops answering pings is dropped", async (t) => {
  const net = createDevNetwork();
  const server = await net.start({ heartbeatMs: 50 }, t);
  const peer = new RawPeer(server.addr);
  t.teardown(() => peer.ws.terminate());
  const gone = new Promise<{ id: string }>((resolve) => server.once("peer-closed", resolve));
  const me = net.identity();
  await peer.handshake(me);
  // A frozen process: its socket is never read again, so pings go unanswered.
  peer.ws.pause();
  t.is((await gone).id, me.signer.id);
  t.is(server.stats().connections, 0);
});
