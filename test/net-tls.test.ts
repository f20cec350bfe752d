// Peer links over TLS 1.3 (tls: true): what a wiretap between two members sees, and what a man in
// the middle who terminates TLS on both sides gets (a refused handshake). Each test has a plain
// WebSocket control that shows the same setup does see or relay everything without TLS.
import test, { type ExecutionContext } from "ava";
import { createServer as createTcpServer, connect, type AddressInfo, type Server } from "node:net";
import { createServer as createHttpsServer } from "node:https";
import { X509Certificate } from "node:crypto";
import { WebSocketServer } from "ws";
import { createDevNetwork } from "../src/net/dev-network.js";
import { relayFrames } from "./helpers/ws-relay.js";
import { selfSignedCertificate } from "../src/net/tls-cert.js";

const SECRET_VALUE = "reading-7f3a9c-celsius-21.5";

/** A TCP proxy in front of `target` that records every byte in both directions. */
async function wiretap(t: ExecutionContext, target: string): Promise<{ addr: string; bytes: () => Buffer }> {
  const chunks: Buffer[] = [];
  const sockets = new Set<{ destroy(): void }>();
  const [host, port] = [
    target.slice(0, target.lastIndexOf(":")),
    Number(target.slice(target.lastIndexOf(":") + 1)),
  ];
  const server: Server = createTcpServer((down) => {
    const up = connect(port, host);
    sockets.add(up).add(down);
    down.on("data", (d) => chunks.push(d));
    up.on("data", (d) => chunks.push(d));
    down.pipe(up).pipe(down);
    down.on("error", () => up.destroy());
    up.on("error", () => down.destroy());
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  t.teardown(() => {
    for (const s of sockets) s.destroy();
    return new Promise<void>((r) => server.close(() => r()));
  });
  return {
    addr: `127.0.0.1:${(server.address() as AddressInfo).port}`,
    bytes: () => Buffer.concat(chunks),
  };
}

for (const tls of [true, false]) {
  test(`a wiretap between two members ${tls ? "sees no token, payload or key in clear (TLS)" : "sees everything without TLS (control)"}`, async (t) => {
    const net = createDevNetwork();
    const serverOpts = net.memberOptions({ tls });
    const server = await net.start(serverOpts, t);
    server.handle("store", async (p) => ({ stored: p }));
    const clientOpts = net.memberOptions({ tls });
    const client = await net.start(clientOpts, t);
    const tap = await wiretap(t, server.addr);
    const answer = await client.call({ addr: tap.addr, id: server.id }, "store", { value: SECRET_VALUE });
    t.deepEqual(answer, { stored: { value: SECRET_VALUE } });
    const seen = tap.bytes().toString("latin1");
    t.true(seen.length > 0);
    // What the listener sends (its token, its key, the answer): a WebSocket client masks its own
    // frames, so without TLS only this direction is readable as is.
    const secrets = [SECRET_VALUE, serverOpts.proof, serverOpts.signer.publicKeyHex];
    const visible = secrets.filter((s) => seen.includes(s)).length;
    if (tls) t.is(visible, 0, "nothing of the exchange is readable on the wire");
    else t.is(visible, secrets.length, "the control sees every secret, so the check above can fail");
  });
}

/** A relay that terminates the peer protocol's WebSocket (and TLS, if any) on both sides. */
async function manInTheMiddle(t: ExecutionContext, target: string, tls: boolean): Promise<string> {
  const https = tls ? createHttpsServer(selfSignedCertificate()) : undefined;
  const relay = https
    ? new WebSocketServer({ server: https })
    : new WebSocketServer({ host: "127.0.0.1", port: 0 });
  if (https) await new Promise<void>((r) => https.listen(0, "127.0.0.1", () => r()));
  else await new Promise<void>((r) => relay.once("listening", () => r()));
  t.teardown(async () => {
    https?.closeAllConnections();
    for (const c of relay.clients) c.terminate();
    await new Promise<void>((r) => relay.close(() => r()));
    if (https) await new Promise<void>((r) => https.close(() => r()));
  });
  relay.on("connection", (down) => relayFrames(down, target, tls));
  const port = ((https ?? relay).address() as AddressInfo).port;
  return `127.0.0.1:${port}`;
}

test("a man in the middle with its own TLS certificate cannot complete the handshake", async (t) => {
  const net = createDevNetwork();
  const server = await net.start({ tls: true }, t);
  server.handle("echo", async (p) => p);
  const member = await net.start({ tls: true }, t);
  const mitm = await manInTheMiddle(t, server.addr, true);
  const err = await t.throwsAsync(
    member.call({ addr: mitm, id: server.id }, "echo", "x", { timeoutMs: 5_000 }),
  );
  t.log(`through the relay: ${err?.name} ${(err as { code?: string }).code}`);
  t.true(err?.name === "AuthError" || (err as { code?: string }).code === "closed");
  // Directly, the same two members talk.
  t.is(await member.call({ addr: server.addr, id: server.id }, "echo", "direct"), "direct");
});

test("without TLS the same relay passes the handshake through (control)", async (t) => {
  const net = createDevNetwork();
  const server = await net.start({ tls: false }, t);
  server.handle("echo", async (p) => p);
  const member = await net.start({ tls: false }, t);
  const mitm = await manInTheMiddle(t, server.addr, false);
  t.is(await member.call({ addr: mitm, id: server.id }, "echo", "relayed"), "relayed");
});

test("the throwaway certificate is a valid self-signed Ed25519 X.509 v3 certificate", (t) => {
  const { cert } = selfSignedCertificate();
  const x = new X509Certificate(cert);
  t.true(x.verify(x.publicKey));
  t.is(x.publicKey.asymmetricKeyType, "ed25519");
  t.is(x.subject, "CN=flowchain-peer");
  t.true(new Date(x.validTo).getTime() > Date.now() + 365 * 86_400_000);
});
