// Bad input on the peer port: every kind of garbage closes that one connection, the node keeps
// serving authenticated peers, and memory stays bounded.
import test from "ava";
import { randomBytes } from "node:crypto";
import type { WebSocket } from "ws";
import { createDevNetwork, RawPeer } from "../src/net/dev-network.js";

const VALID_REQ = JSON.stringify({ t: "req", id: 1, m: "ok", p: null });

const cases: Array<{ name: string; send: (ws: WebSocket) => void; code: number; reason: string }> = [
  { name: "non-JSON text", send: (ws) => ws.send("this is not json {"), code: 4002, reason: "bad_frame" },
  { name: "JSON that is not an object", send: (ws) => ws.send("[1,2,3]"), code: 4002, reason: "bad_frame" },
  { name: "binary frame", send: (ws) => ws.send(Buffer.from([1, 2, 3])), code: 4002, reason: "binary_frame" },
  { name: "oversize frame", send: (ws) => ws.send("x".repeat(10_000)), code: 1009, reason: "" },
  {
    name: "unknown message type",
    send: (ws) => ws.send('{"t":"gossip","id":1}'),
    code: 4002,
    reason: "unknown_type",
  },
  {
    name: "valid request before the handshake",
    send: (ws) => ws.send(VALID_REQ),
    code: 4002,
    reason: "unexpected_frame",
  },
  {
    name: "hello with a wrong protocol version",
    send: (ws) => ws.send('{"t":"hello","v":99}'),
    code: 4002,
    reason: "bad_version",
  },
  {
    name: "hello with malformed fields",
    send: (ws) => ws.send(JSON.stringify({ t: "hello", v: 1, networkId: "n", id: "zz", publicKeyHex: 5 })),
    code: 4002,
    reason: "bad_frame",
  },
];

for (const c of cases) {
  test(`${c.name}: connection closed, the node still serves members`, async (t) => {
    const net = createDevNetwork();
    const server = await net.start({ maxFrameBytes: 4096 }, t);
    let handled = 0;
    server.handle("ok", async () => ++handled);
    const r = new RawPeer(server.addr);
    await r.opened;
    c.send(r.ws);
    const closed = await r.closed;
    t.is(closed.code, c.code);
    t.is(closed.reason, c.reason);
    t.is(handled, 0);
    const friend = await net.start({ maxFrameBytes: 4096 }, t);
    t.is(await friend.call({ addr: server.addr }, "ok", null), 1);
  });
}

test("a silent connection is closed at the handshake timeout", async (t) => {
  const net = createDevNetwork();
  const server = await net.start({ maxFrameBytes: 4096, handshakeTimeoutMs: 500 }, t);
  const r = new RawPeer(server.addr);
  const opened = await r.opened.then(
    () => true,
    () => false,
  );
  const closed = await r.closed;
  // The deadline runs from the TCP accept: usually the WebSocket opens and the handshake timer
  // closes it; on a busy machine it can pass during TLS, and then the socket is reset.
  if (opened) t.deepEqual(closed, { code: 4000, reason: "handshake_timeout" });
  else t.is(closed.code, 1006);
  t.is(server.connectionCount, 0);
});

test("beyond maxHandshakes the oldest unauthenticated connection makes room for the newcomer", async (t) => {
  const net = createDevNetwork();
  const server = await net.start({ maxFrameBytes: 4096, maxHandshakes: 2 }, t);
  server.handle("ok", async () => "ok");
  // The server has admitted a connection by the time its client sees the upgrade answered.
  const oldest = new RawPeer(server.addr);
  await oldest.opened;
  const second = new RawPeer(server.addr);
  await second.opened;
  const third = new RawPeer(server.addr);
  t.deepEqual(await oldest.closed, { code: 4003, reason: "too_many_handshakes" });
  await third.handshake(net.identity());
  t.is(server.stats().evicted, 1);
  second.ws.send("garbage");
  await second.closed;
  const friend = await net.start({ maxFrameBytes: 4096 }, t);
  t.is(await friend.call({ addr: server.addr }, "ok", null), "ok");
});

test("thousands of bad frames from many connections: memory stays bounded, members still served", async (t) => {
  const net = createDevNetwork();
  const server = await net.start({ maxFrameBytes: 4096 }, t);
  server.handle("ok", async (p) => p);
  const friend = await net.start({ maxFrameBytes: 4096 }, t);
  t.is(await friend.call({ addr: server.addr }, "ok", "before"), "before");
  const garbage = [
    () => randomBytes(512).toString("base64"),
    () => "y".repeat(8000),
    () => '{"t":"nope"}',
    () => VALID_REQ,
    () => JSON.stringify({ t: "res", id: 1, r: "x".repeat(2000) }),
    () => JSON.stringify({ t: "auth", sig: "00".repeat(64) }),
  ];
  const before = process.memoryUsage().heapUsed;
  const connections = 60;
  const framesPerConnection = 100;
  for (let round = 0; round < 3; round++) {
    const clients = Array.from({ length: connections }, () => new RawPeer(server.addr));
    await Promise.all(
      clients.map(async (c, i) => {
        await c.opened;
        for (let f = 0; f < framesPerConnection; f++) c.ws.send(garbage[(i + f) % garbage.length]());
      }),
    );
    const closes = await Promise.all(clients.map((c) => c.closed));
    t.true(closes.every((c) => c.code === 4002 || c.code === 1009 || c.code === 1006));
  }
  // The round trip flushes the server's event queue, so every garbage socket has been seen closing.
  t.is(await friend.call({ addr: server.addr }, "ok", "after"), "after");
  t.is(server.connectionCount, 1);
  // Client and server share this heap here; net-process.test.ts measures a node on its own.
  const grownMiB = (process.memoryUsage().heapUsed - before) / (1024 * 1024);
  t.log(`heap grew by ${grownMiB.toFixed(1)} MiB`);
  t.true(grownMiB < 64, `heap grew by ${grownMiB.toFixed(1)} MiB`);
});
