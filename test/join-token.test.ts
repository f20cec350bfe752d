// Join tokens expire; membership tokens do not. The clock is injected where a token is checked, so
// expiry is exact here; test/integrity-token-expiry.test.ts shows the same on real processes.
import test from "ava";
import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { silentLogger } from "../src/log.js";
import { createDevNetwork } from "../src/net/dev-network.js";
import { checkHello, createHello } from "../src/net/handshake.js";
import {
  checkJoinToken,
  checkPeerProof,
  createJoinToken,
  createMembershipToken,
  parseJoinToken,
  tokenId,
  verifyMembershipToken,
} from "../src/net/membership.js";
import { createKeyPairSigner } from "../src/net/signer.js";
import { prepareNetwork } from "../src/node/bootstrap.js";
import { dataFiles } from "../src/node/data-dir.js";
import {
  DEFAULT_JOIN_TTL_MS,
  joinTokenState,
  listJoinTokens,
  parseJoinTtl,
  tokenTable,
} from "../src/node/join-tokens.js";

const HOUR = 3_600_000;

async function tempDir(t: { teardown(fn: () => Promise<void>): void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "flowchain-join-token-"));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

test("a join token admits until its expiry and never after; a membership token has no expiry", (t) => {
  const net = createDevNetwork();
  const expected = { networkId: net.networkId, adminPublicKey: net.admin.publicKeyHex };
  const now = 1_800_000_000_000;
  const join = createJoinToken(net.admin, { networkId: net.networkId, name: "home", ttlMs: HOUR, now });
  t.regex(join, /^fc2\./);
  const { payload } = parseJoinToken(join);
  t.is(payload.issued, now);
  t.is(payload.expires, now + HOUR);

  t.is(checkJoinToken(join, expected, now), null);
  t.is(checkJoinToken(join, expected, now + HOUR - 1), null);
  t.is(checkJoinToken(join, expected, now + HOUR), "expired_join_token");
  t.is(checkPeerProof(join, expected, now + HOUR - 1), null);
  t.is(checkPeerProof(join, expected, now + HOUR), "expired_join_token");

  const membership = createMembershipToken(net.admin, { networkId: net.networkId, name: "home" });
  t.is(checkPeerProof(membership, expected, now + 100 * 365 * 24 * HOUR), null);

  // Distinct signing domains: neither kind passes as the other, even re-labelled.
  t.false(verifyMembershipToken(join, expected));
  t.false(verifyMembershipToken(join.replace(/^fc2/, "fc1"), expected));
  t.is(checkJoinToken(membership, expected, now), "bad_token");
  t.is(checkJoinToken(membership.replace(/^fc1/, "fc2"), expected, now), "bad_token");

  // A later expiry under the same signature, another network or admin key, garbage: refused.
  const [pre, body, sig] = join.split(".");
  const claims = JSON.parse(Buffer.from(body, "base64url").toString()) as { expires: number };
  const extended = Buffer.from(JSON.stringify({ ...claims, expires: claims.expires + 10 * HOUR }));
  t.is(checkJoinToken(`${pre}.${extended.toString("base64url")}.${sig}`, expected, now), "bad_token");
  t.is(checkJoinToken(join, { ...expected, networkId: "other" }, now), "bad_token");
  t.is(
    checkPeerProof(join, { ...expected, adminPublicKey: createKeyPairSigner().publicKeyHex }, now),
    "bad_proof",
  );
  for (const bad of ["", "fc2", "fc2.a.b", 42, null, "x".repeat(10_000)]) {
    t.is(checkPeerProof(bad, expected, now), "bad_proof");
  }
  t.throws(() => createJoinToken(net.admin, { networkId: net.networkId, name: "x", ttlMs: 0 }), {
    message: /ttl/,
  });
});

test("the handshake refuses an expired join token by name, and admits the same key with a fresh one", (t) => {
  const net = createDevNetwork();
  const expected = { networkId: net.networkId, adminPublicKey: net.admin.publicKeyHex };
  const now = Date.now();
  const signer = createKeyPairSigner();
  const hello = (proof: string) =>
    createHello({
      signer,
      networkId: net.networkId,
      adminPublicKey: net.admin.publicKeyHex,
      proof,
      addr: "x:1",
    });
  const token = createJoinToken(net.admin, { networkId: net.networkId, name: "dev", ttlMs: 1000, now });
  t.is(checkHello(hello(token), expected, now + 999), null);
  t.is(checkHello(hello(token), expected, now + 1000), "expired_join_token");
});

test("a real member refuses a peer whose join token expired, with the reason, and serves one with a fresh token", async (t) => {
  const net = createDevNetwork();
  const member = await net.start({}, t);
  const past = Date.now() - 10 * HOUR;
  const expired = createJoinToken(net.admin, {
    networkId: net.networkId,
    name: "dev",
    ttlMs: HOUR,
    now: past,
  });
  const late = await net.start({ proof: expired }, t);
  member.handle("echo", async (p) => p);
  const err = await t.throwsAsync(late.call({ addr: member.addr }, "echo", 1));
  t.is((err as { code?: string }).code, "expired_join_token");
  t.regex(err?.message ?? "", /expired_join_token/);

  const fresh = createJoinToken(net.admin, { networkId: net.networkId, name: "dev", ttlMs: HOUR });
  const inTime = await net.start({ proof: fresh }, t);
  t.is(await inTime.call({ addr: member.addr }, "echo", 2), 2);
  // Once it holds the membership token it shows that, and stays a member.
  inTime.setProof(createMembershipToken(net.admin, { networkId: net.networkId, name: "dev" }));
  t.throws(
    () => inTime.setProof(createMembershipToken(createKeyPairSigner(), { networkId: "x", name: "x" })),
    {
      message: /not a valid token/,
    },
  );
});

test("durations take s, m, h and d; anything else is refused with the form named", (t) => {
  t.is(parseJoinTtl("90s"), 90_000);
  t.is(parseJoinTtl("30m"), 30 * 60_000);
  t.is(parseJoinTtl("24h"), DEFAULT_JOIN_TTL_MS);
  t.is(parseJoinTtl("7d"), 7 * 24 * HOUR);
  t.is(parseJoinTtl("365d"), 365 * 24 * HOUR);
  for (const bad of ["", "24", "h", "0s", "-1h", "1.5h", "1 h", "1w", "24H", "366d", "99999999999d", "abc"]) {
    const err = t.throws(() => parseJoinTtl(bad), undefined, bad);
    t.is((err as { code?: string }).code, "bad_ttl");
    t.regex(err?.message ?? "", /s, m, h or d/);
  }
});

test("a new network keeps a membership token and a 24 h join token, listed without its text", async (t) => {
  const dir = await tempDir(t);
  const before = Date.now();
  const state = await prepareNetwork(dir, { joining: false }, silentLogger);
  const files = dataFiles(dir);
  const membership = (await readFile(files.proof, "utf8")).trim();
  const join = (await readFile(files.joinToken, "utf8")).trim();
  t.is(state.proof, membership);
  const expected = { networkId: state.networkId, adminPublicKey: state.descriptor.adminPublicKey };
  t.true(verifyMembershipToken(membership, expected));
  t.is(checkJoinToken(join, expected), null);
  t.is((await stat(files.joinToken)).mode & 0o777, 0o600);
  const { issued, expires } = parseJoinToken(join).payload;
  t.true(issued >= before && expires === issued + DEFAULT_JOIN_TTL_MS);

  const [listed] = await listJoinTokens(dir);
  t.deepEqual(listed, { id: tokenId(join), created: issued, expires, file: files.joinToken });
  const table = await tokenTable(dir, expires - 1);
  t.regex(
    table,
    new RegExp(
      `^${tokenId(join)}  \\S+  ${new Date(expires).toISOString()}  valid {4}${files.joinToken}$`,
      "m",
    ),
  );
  t.regex(await tokenTable(dir, expires), / {2}expired {2}/);
  t.false(table.includes(join.split(".")[2]), "the token's signature is never listed");
  t.false((await readFile(files.joinTokens, "utf8")).includes(join.split(".")[1]), "nor its payload");
  t.deepEqual(await joinTokenState(dir, expires), { file: files.joinToken, expires, expired: true });
});

test("an admin directory from before join tokens expired gets an expiring join-token; its membership stays", async (t) => {
  const dir = await tempDir(t);
  const files = dataFiles(dir);
  const first = await prepareNetwork(dir, { joining: false }, silentLogger);
  // What such a directory held: the membership token in join-token too.
  await writeFile(files.joinToken, first.proof + "\n", { mode: 0o600 });
  await rm(files.joinTokens);
  const again = await prepareNetwork(dir, { joining: false }, silentLogger);
  t.is(again.proof, first.proof);
  t.is((await readFile(files.proof, "utf8")).trim(), first.proof);
  const join = (await readFile(files.joinToken, "utf8")).trim();
  t.regex(join, /^fc2\./);
  t.deepEqual(
    (await listJoinTokens(dir)).map((e) => e.id),
    [tokenId(join)],
  );
});

test("joining with an expired token names `flowchain token create` and writes nothing", async (t) => {
  const net = createDevNetwork();
  const name = "flowchain";
  const { networkId } = await import("../src/ledger/genesis.js");
  const id = networkId({ name, adminPublicKey: net.admin.publicKeyHex });
  const expired = createJoinToken(net.admin, { networkId: id, name, ttlMs: 1000, now: Date.now() - HOUR });
  const dir = await tempDir(t);
  const err = await t.throwsAsync(prepareNetwork(dir, { joining: true, token: expired }, silentLogger));
  t.is((err as { code?: string }).code, "expired_join_token");
  t.regex(err?.message ?? "", /expired.*flowchain token create --data DATA.*--token-file/);
  await t.throwsAsync(stat(dataFiles(dir).network), { code: "ENOENT" });
  await t.throwsAsync(stat(dataFiles(dir).proof), { code: "ENOENT" });
});

test("a first join killed before it got the membership token starts over with its token, and says so without one", async (t) => {
  const net = createDevNetwork();
  const { networkId } = await import("../src/ledger/genesis.js");
  const name = "flowchain";
  const id = networkId({ name, adminPublicKey: net.admin.publicKeyHex });
  const token = createJoinToken(net.admin, { networkId: id, name, ttlMs: HOUR });
  const dir = await tempDir(t);
  const first = await prepareNetwork(dir, { joining: true, token }, silentLogger);
  t.true(first.firstJoin);
  t.is(first.proof, token, "the join token is shown until the membership token comes");
  await t.throwsAsync(
    stat(dataFiles(dir).proof),
    { code: "ENOENT" },
    "a join token is never kept as membership",
  );

  // The process died there: a restart without the token names the fix, one with it starts over.
  const without = await t.throwsAsync(prepareNetwork(dir, { joining: false }, silentLogger));
  t.regex(
    without?.message ?? "",
    /membership-token is missing: the first join did not finish; start again with --join and --token-file/,
  );
  const again = await prepareNetwork(dir, { joining: true, token }, silentLogger);
  t.true(again.firstJoin);
  t.is(again.networkId, id);
});
