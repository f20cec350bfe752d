// Membership and the handshake: who may connect, and that nothing can be replayed or forged.
import test from "ava";
import type { AddressInfo } from "node:net";
import { WebSocketServer } from "ws";
import { createLogger, type Logger } from "../src/log.js";
import { PeerNetwork } from "../src/net/peer-network.js";
import { createDevNetwork, RawPeer } from "../src/net/dev-network.js";
import { createMembershipToken, parseMembershipToken, verifyMembershipToken } from "../src/net/membership.js";
import { createKeyPairSigner } from "../src/net/signer.js";
import { createHello, signTranscript } from "../src/net/handshake.js";
import { createServer as createHttpsServer } from "node:https";
import { channelBinding } from "../src/net/peer-network.js";
import { selfSignedCertificate } from "../src/net/tls-cert.js";
import type { HelloFrame } from "../src/net/frame.js";

function capturingLogger(): { log: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  return { log: createLogger("warn", {}, (l) => lines.push(JSON.parse(l))), lines };
}

test("join tokens: round trip, tamper, wrong network, wrong admin, garbage", (t) => {
  const net = createDevNetwork();
  const token = createMembershipToken(net.admin, { networkId: net.networkId, name: "home" });
  const expected = { networkId: net.networkId, adminPublicKey: net.admin.publicKeyHex };
  t.true(verifyMembershipToken(token, expected));
  const { payload } = parseMembershipToken(token);
  t.is(payload.network, net.networkId);
  t.is(payload.name, "home");
  t.is(payload.adminPublicKey, net.admin.publicKeyHex);

  const [pre, body, sig] = token.split(".");
  const tampered = JSON.parse(Buffer.from(body, "base64url").toString());
  tampered.name = "evil";
  const tamperedToken = [pre, Buffer.from(JSON.stringify(tampered)).toString("base64url"), sig].join(".");
  t.false(verifyMembershipToken(tamperedToken, expected));
  t.false(verifyMembershipToken(token, { ...expected, networkId: "other" }));
  t.false(verifyMembershipToken(token, { ...expected, adminPublicKey: createKeyPairSigner().publicKeyHex }));
  // Someone else's key signing a payload that names the real admin key.
  const forger = createKeyPairSigner();
  const forged = createMembershipToken(
    { publicKeyHex: net.admin.publicKeyHex, sign: (d) => forger.sign(d) },
    { networkId: net.networkId, name: "forged" },
  );
  t.false(verifyMembershipToken(forged, expected));

  for (const bad of [
    "",
    "fc1",
    "fc1.a.b",
    "fc2." + body + "." + sig,
    "fc1.!!!." + sig,
    42,
    null,
    "x".repeat(10_000),
  ]) {
    t.false(verifyMembershipToken(bad, expected));
    const err = t.throws(() => parseMembershipToken(bad));
    t.is((err as { code?: string }).code, "bad_token");
  }
  t.throws(() => parseMembershipToken(`fc1.${Buffer.from("[1]").toString("base64url")}.${sig}`), {
    message: /object/,
  });
});

test("a node refuses to start with a proof that is not for its network", (t) => {
  const net = createDevNetwork();
  const other = createDevNetwork();
  const err = t.throws(
    () =>
      new PeerNetwork({
        signer: createKeyPairSigner(),
        networkId: net.networkId,
        adminPublicKey: net.admin.publicKeyHex,
        proof: createMembershipToken(other.admin, { networkId: net.networkId, name: "x" }),
        host: "127.0.0.1",
        port: 0,
      }),
  );
  t.is((err as { code?: string }).code, "bad_token");
});

test("a node with a token from another admin key is refused and logged; the server stays up", async (t) => {
  const net = createDevNetwork();
  const { log, lines } = capturingLogger();
  const server = await net.start({ log }, t);
  server.handle("ok", async () => "ok");
  // The intruder runs its own network with the same id but its own admin: its token is self-consistent.
  const rogue = createDevNetwork(createKeyPairSigner(), net.networkId);
  const intruder = await rogue.start({}, t);
  let called = false;
  server.handle("secret", async () => (called = true));
  const err = await t.throwsAsync(intruder.call({ addr: server.addr }, "secret", null));
  t.is(err?.name, "AuthError");
  t.false(called);
  t.true(
    lines.some((l) => l.level === "warn" && l.reason === "bad_proof"),
    JSON.stringify(lines),
  );
  const friend = await net.start({}, t);
  t.is(await friend.call({ addr: server.addr }, "ok", null), "ok");
});

test("the dialer refuses a server that is not a member", async (t) => {
  const net = createDevNetwork();
  // An impostor that accepts anyone and answers with a correctly signed hello, but a rogue proof.
  const impostorId = net.identity({
    proof: createMembershipToken(createKeyPairSigner(), { networkId: net.networkId, name: "rogue" }),
  });
  // It speaks TLS and binds its signature to the session, as a member would.
  const https = createHttpsServer(selfSignedCertificate());
  const wss = new WebSocketServer({ server: https });
  t.teardown(() => {
    https.closeAllConnections();
    return new Promise<void>((r) => https.close(() => r()));
  });
  await new Promise<void>((r) => https.listen(0, "127.0.0.1", () => r()));
  wss.on("connection", (ws, req) => {
    ws.on("error", () => {});
    ws.once("message", (d) => {
      const dialerHello = JSON.parse(d.toString()) as HelloFrame;
      const mine = createHello(impostorId);
      const binding = channelBinding(true, req.socket);
      ws.send(
        JSON.stringify({ ...mine, sig: signTranscript(impostorId, "listener", dialerHello, mine, binding) }),
      );
    });
  });
  const { log, lines } = capturingLogger();
  const honest = await net.start({ log, tls: true }, t);
  const err = await t.throwsAsync(
    honest.call({ addr: `127.0.0.1:${(https.address() as AddressInfo).port}` }, "x", null),
  );
  t.is(err?.name, "AuthError");
  t.is((err as { code?: string }).code, "bad_proof");
  t.true(lines.some((l) => l.reason === "bad_proof"));
});

test("a token for another network of the same admin is refused", async (t) => {
  const net = createDevNetwork();
  const server = await net.start({}, t);
  server.handle("ok", async () => "ok");
  const sibling = createDevNetwork(net.admin);
  const other = await sibling.start({}, t);
  const err = await t.throwsAsync(other.call({ addr: server.addr }, "ok", null));
  t.is(err?.name, "AuthError");
  t.is((err as { code?: string }).code, "wrong_network");
});

test("forged senders: an id that is not the key's hash, or a member's key without its private key", async (t) => {
  const net = createDevNetwork();
  const server = await net.start({}, t);
  const victim = createKeyPairSigner();

  const c1 = new RawPeer(server.addr);
  await c1.opened;
  const me = net.identity();
  c1.send({ ...createHello(me), id: victim.id });
  t.deepEqual(await c1.closed, { code: 4001, reason: "id_mismatch" });

  // Claims the victim's key and id; cannot sign for it.
  const c2 = new RawPeer(server.addr);
  await c2.opened;
  const impersonator = net.identity({
    signer: { id: victim.id, publicKeyHex: victim.publicKeyHex, sign: (d) => createKeyPairSigner().sign(d) },
  });
  const hello = createHello(impersonator);
  c2.send(hello);
  const serverHello = (await c2.next()) as unknown as HelloFrame;
  t.is(serverHello.t, "hello");
  t.is(serverHello.id, server.id);
  c2.send({ t: "auth", sig: signTranscript(impersonator, "dialer", hello, serverHello, c2.binding()) });
  t.deepEqual(await c2.closed, { code: 4001, reason: "bad_signature" });
});

test("a replayed handshake is refused", async (t) => {
  const net = createDevNetwork();
  const server = await net.start({}, t);
  let calls = 0;
  server.handle("count", async () => ++calls);
  const me = net.identity();

  // A legitimate handshake, recorded.
  const c1 = new RawPeer(server.addr);
  await c1.opened;
  const hello = createHello(me);
  c1.send(hello);
  const serverHello = (await c1.next()) as unknown as HelloFrame;
  const auth = { t: "auth", sig: signTranscript(me, "dialer", hello, serverHello, c1.binding()) };
  c1.send(auth);
  t.deepEqual(await c1.next(), { t: "ok" });
  c1.send({ t: "req", id: 1, m: "count", p: null });
  t.deepEqual(await c1.next(), { t: "res", id: 1, r: 1 });
  c1.ws.close();

  // The attacker replays the exact same frames on a new connection: the server's nonce is new.
  const c2 = new RawPeer(server.addr);
  await c2.opened;
  c2.send(hello);
  const freshHello = (await c2.next()) as unknown as HelloFrame;
  t.not(freshHello.nonce, serverHello.nonce);
  c2.send(auth);
  c2.send({ t: "req", id: 1, m: "count", p: null });
  t.deepEqual(await c2.closed, { code: 4001, reason: "bad_signature" });
  t.is(calls, 1);

  // Replaying the server's own signature back to it (reflection) fails too.
  const c3 = new RawPeer(server.addr);
  await c3.opened;
  c3.send(hello);
  const h3 = (await c3.next()) as unknown as HelloFrame;
  c3.send({ t: "auth", sig: h3.sig });
  t.deepEqual(await c3.closed, { code: 4001, reason: "bad_signature" });
  const friend = await net.start({}, t);
  t.is(await friend.call({ addr: server.addr }, "count", null), 2);
});
