// Peer links over TLS 1.3, the default: what a wiretap between two members (and between two
// `flowchain start` processes) sees, what a man in the middle who terminates TLS on both sides gets
// (a refused handshake), and what a plain node meets at a TLS node and the other way round (a
// clear refusal). Each wiretap and relay test has a plain control (`tls: false`,
// `--insecure-peers`) that shows the same setup does see or relay everything without TLS.
import test, { type ExecutionContext } from "ava";
import { execFile } from "node:child_process";
import { readFile } from "node:fs/promises";
import { createServer as createTcpServer, connect, type AddressInfo, type Server } from "node:net";
import { createServer as createHttpsServer } from "node:https";
import { X509Certificate } from "node:crypto";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { WebSocketServer } from "ws";
import { createDevNetwork } from "../src/net/dev-network.js";
import { Cluster } from "./helpers/cluster.js";
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
    // TLS is what a member gets without asking.
    const links = tls ? {} : { tls: false };
    const serverOpts = net.memberOptions(links);
    const server = await net.start(serverOpts, t);
    server.handle("store", async (p) => ({ stored: p }));
    const clientOpts = net.memberOptions(links);
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

const CLI = join(dirname(fileURLToPath(import.meta.url)), "..", "src", "cli.js");

for (const insecure of [false, true]) {
  test(`a TCP proxy between two node processes ${insecure ? "sees the token, a record and its block with --insecure-peers (control)" : "sees no token, record or block in clear (default start)"}`, async (t) => {
    t.timeout(90_000);
    const cluster = new Cluster();
    t.teardown(() => cluster.stop());
    const args = insecure ? ["--insecure-peers"] : [];
    const first = await cluster.start({ wot: false, args });
    const token = await cluster.token(first);
    const tap = await wiretap(t, first.peer);
    // The second node joins through the proxy: the join's handshake crosses it.
    const second = await cluster.start({ join: tap.addr, token, wot: false, args });
    if (insecure) t.regex(second.output(), /WARNING --insecure-peers/);
    const client = await cluster.client(token, { tls: !insecure });
    const to = { addr: tap.addr, id: first.id };
    type Put = { key: string; txID: string; owner: string; block: string };
    // Puts until the first node owns one (half the keys): its block is then its own to serve.
    let put: Put | undefined;
    for (let i = 0; i < 32 && put?.owner !== first.id; i++) {
      put = (await client.call(to, "node.put", { value: SECRET_VALUE, source: `urn:dev:tap-${i}` })) as Put;
    }
    t.is(put?.owner, first.id);
    t.is(((await client.call(to, "node.get", { key: put!.key })) as { txID: string }).txID, put!.txID);
    t.truthy(await client.call(to, "ledger.block", { hash: put!.block }));
    const seen = tap.bytes().toString("latin1");
    t.true(seen.length > 0);
    // What the first node sends (a dialer's frames are masked): its membership token in its hello,
    // the record (value and txID) and the block's hash.
    const proof = (await readFile(join(first.dataDir, "membership-token"), "utf8")).trim();
    const secrets = [proof, SECRET_VALUE, put!.txID, put!.block];
    const visible = secrets.filter((s) => seen.includes(s));
    if (insecure)
      t.is(visible.length, secrets.length, "the control sees every secret, so the check can fail");
    else t.deepEqual(visible, [], "nothing of the join, the record or the block is readable on the wire");
  });
}

test("a plain dialer and a TLS listener refuse each other, both ways, with the reason", async (t) => {
  const net = createDevNetwork();
  const tlsNode = await net.start({}, t);
  const plainNode = await net.start({ tls: false }, t);
  for (const n of [tlsNode, plainNode]) n.handle("echo", async (p) => p);
  const plainToTls = await t.throwsAsync(plainNode.call({ addr: tlsNode.addr }, "echo", 1));
  t.is(plainToTls?.name, "AuthError");
  t.is((plainToTls as { code?: string }).code, "peer_links_mismatch");
  t.regex(plainToTls!.message, /takes encrypted peer links \(TLS 1\.3\) only.*without --insecure-peers/);
  const tlsToPlain = await t.throwsAsync(tlsNode.call({ addr: plainNode.addr }, "echo", 2));
  t.is((tlsToPlain as { code?: string }).code, "peer_links_mismatch");
  t.regex(tlsToPlain!.message, /speaks plain peer links/);
  // Both still serve their own kind.
  const tlsPeer = await net.start({}, t);
  const plainPeer = await net.start({ tls: false }, t);
  t.is(await tlsPeer.call({ addr: tlsNode.addr }, "echo", 3), 3);
  t.is(await plainPeer.call({ addr: plainNode.addr }, "echo", 4), 4);
});

test("a node started with --insecure-peers cannot join a TLS network: it exits saying why", async (t) => {
  t.timeout(90_000);
  const cluster = new Cluster();
  t.teardown(() => cluster.stop());
  const first = await cluster.start({ wot: false });
  const dir = await cluster.tempDir();
  const joining = promisify(execFile)(
    process.execPath,
    [
      CLI,
      "start",
      "--data",
      join(dir, "n2"),
      "--port",
      "0",
      "--no-wot",
      "--join",
      first.peer,
      "--insecure-peers",
    ],
    { timeout: 60_000, env: { ...process.env, FLOWCHAIN_TOKEN: await cluster.token(first) } },
  );
  const err = (await t.throwsAsync(joining)) as Error & { stderr?: string };
  t.regex(String(err.stderr), /WARNING --insecure-peers/);
  t.regex(
    String(err.stderr),
    /takes encrypted peer links \(TLS 1\.3\) only.*start this node without --insecure-peers/,
  );
});

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
  const server = await net.start({}, t);
  server.handle("echo", async (p) => p);
  const member = await net.start({}, t);
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
