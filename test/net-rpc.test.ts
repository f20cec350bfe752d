// Authenticated peers calling each other over real sockets on 127.0.0.1.
import test from "ava";
import { InputError } from "../src/util/errors.js";
import { createDevNetwork } from "../src/net/dev-network.js";

function never(): Promise<unknown> {
  return new Promise(() => {});
}

test("two members call each other and each sees the authenticated caller", async (t) => {
  const net = createDevNetwork();
  const a = await net.start({}, t);
  const b = await net.start({}, t);
  const seen: Array<{ id: string; addr: string }> = [];
  for (const p of [a, b]) {
    p.handle("echo", async (params, from) => {
      seen.push(from);
      return { params, at: p.id };
    });
  }
  t.deepEqual(await a.call({ addr: b.addr }, "echo", { x: 1 }), { params: { x: 1 }, at: b.id });
  t.deepEqual(await b.call({ addr: a.addr, id: a.id }, "echo", [1, "two"]), { params: [1, "two"], at: a.id });
  t.deepEqual(seen, [
    { id: a.id, addr: a.addr },
    { id: b.id, addr: b.addr },
  ]);
});

test("a payload cannot claim another sender", async (t) => {
  const net = createDevNetwork();
  const a = await net.start({}, t);
  const b = await net.start({}, t);
  const c = await net.start({}, t);
  let from = "";
  c.handle("who", async (_p, f) => {
    from = f.id;
    return null;
  });
  // The payload names b, the connection is a's: the handler must see a.
  await a.call({ addr: c.addr }, "who", { from: b.id, id: b.id, sender: b.id });
  t.is(from, a.id);
});

test("three members: one connection per peer, concurrent dials are de-duplicated", async (t) => {
  const net = createDevNetwork();
  const [a, b, c] = [await net.start({}, t), await net.start({}, t), await net.start({}, t)];
  for (const p of [a, b, c]) p.handle("id", async () => p.id);
  const results = await Promise.all(
    Array.from({ length: 50 }, (_, i) => a.call({ addr: i % 2 ? b.addr : c.addr }, "id", null)),
  );
  t.deepEqual(
    results,
    results.map((_, i) => (i % 2 ? b.id : c.id)),
  );
  t.is(a.connectionCount, 2);
  t.is(b.connectionCount, 1);
  t.is(c.connectionCount, 1);
  // b can now reach a over its own dial; a's inbound connection from b is reused by id.
  t.is(await b.call({ addr: a.addr, id: a.id }, "id", null), a.id);
  t.is(await a.call({ addr: b.addr, id: b.id }, "id", null), b.id);
  t.deepEqual(new Set(a.peers().map((p) => p.id)), new Set([b.id, c.id]));
});

test("remote errors keep their class and code; unknown methods do not close the connection", async (t) => {
  const net = createDevNetwork();
  const a = await net.start({}, t);
  const b = await net.start({}, t);
  b.handle("bad", async () => {
    throw new InputError("bad_key", "key must be 64 hex chars");
  });
  b.handle("boom", async () => {
    throw new Error("kaput");
  });
  b.handle("sync-throw", (() => {
    throw new InputError("sync", "thrown before any promise");
  }) as never);
  b.handle("ok", async (p) => p);
  const e1 = await t.throwsAsync(a.call({ addr: b.addr }, "bad", null));
  t.true(e1 instanceof InputError);
  t.is((e1 as InputError).code, "bad_key");
  t.is(e1?.message, "key must be 64 hex chars");
  const e2 = await t.throwsAsync(a.call({ addr: b.addr }, "nope", null));
  t.is((e2 as { code?: string }).code, "unknown_method");
  const e3 = await t.throwsAsync(a.call({ addr: b.addr }, "boom", null));
  t.is((e3 as { code?: string }).code, "internal");
  const e4 = await t.throwsAsync(a.call({ addr: b.addr }, "sync-throw", null));
  t.is((e4 as { code?: string }).code, "sync");
  t.is(await a.call({ addr: b.addr }, "ok", 7), 7);
  t.is(a.connectionCount, 1);
});

test("a handler that never answers rejects with code timeout, and the connection stays usable", async (t) => {
  const net = createDevNetwork();
  const a = await net.start({}, t);
  const b = await net.start({}, t);
  b.handle("hang", never);
  b.handle("ok", async () => "ok");
  const err = await t.throwsAsync(a.call({ addr: b.addr }, "hang", null, { timeoutMs: 100 }));
  t.is((err as { code?: string }).code, "timeout");
  t.is(await a.call({ addr: b.addr }, "ok", null), "ok");
});

test("requestTimeoutMs is the default timeout", async (t) => {
  const net = createDevNetwork();
  const a = await net.start({ requestTimeoutMs: 80 }, t);
  const b = await net.start({}, t);
  b.handle("hang", never);
  const err = await t.throwsAsync(a.call({ addr: b.addr }, "hang", null));
  t.is((err as { code?: string }).code, "timeout");
});

test("a call expecting another id is rejected with AuthError", async (t) => {
  const net = createDevNetwork();
  const a = await net.start({}, t);
  const b = await net.start({}, t);
  const c = await net.start({}, t);
  b.handle("ok", async () => "ok");
  const err = await t.throwsAsync(a.call({ addr: b.addr, id: c.id }, "ok", null));
  t.is(err?.name, "AuthError");
  t.is((err as { code?: string }).code, "peer_mismatch");
  t.is(await a.call({ addr: b.addr, id: b.id }, "ok", null), "ok");
});

test("inbound handlers and outbound requests per connection are capped with busy", async (t) => {
  const net = createDevNetwork();
  const a = await net.start({ maxPending: 3 }, t);
  const b = await net.start({ maxInflight: 2 }, t);
  b.handle("hang", never);
  b.handle("ok", async () => "ok");
  const hanging = [1, 2].map(() => a.call({ addr: b.addr }, "hang", null, { timeoutMs: 2000 }));
  for (const h of hanging) h.catch(() => {});
  // b runs two handlers already: the third is refused by b.
  const busyRemote = await t.throwsAsync(a.call({ addr: b.addr }, "ok", null));
  t.is((busyRemote as { code?: string }).code, "busy");
  // a has two pending; a third pending one fills maxPending, so a fourth is refused locally.
  const third = a.call({ addr: b.addr }, "hang", null, { timeoutMs: 2000 });
  third.catch(() => {});
  const busyLocal = await t.throwsAsync(a.call({ addr: b.addr }, "ok", null));
  t.is((busyLocal as { code?: string }).code, "busy");
});

test("oversize requests and results are refused without breaking the connection", async (t) => {
  const net = createDevNetwork();
  const a = await net.start({ maxFrameBytes: 4096 }, t);
  const b = await net.start({ maxFrameBytes: 4096 }, t);
  b.handle("big", async () => "x".repeat(10_000));
  b.handle("echo", async (p) => p);
  const e1 = await t.throwsAsync(a.call({ addr: b.addr }, "echo", "y".repeat(10_000)));
  t.is((e1 as { code?: string }).code, "too_large");
  const e2 = await t.throwsAsync(a.call({ addr: b.addr }, "big", null));
  t.is((e2 as { code?: string }).code, "too_large");
  t.is(await a.call({ addr: b.addr }, "echo", "small"), "small");
});

test("an unreachable address rejects, and a node may call itself", async (t) => {
  const net = createDevNetwork();
  const a = await net.start({}, t);
  const gone = await net.start({}, t);
  const deadAddr = gone.addr;
  await gone.close();
  const err = await t.throwsAsync(a.call({ addr: deadAddr }, "x", null, { timeoutMs: 2000 }));
  t.true(["unreachable", "closed"].includes((err as { code?: string }).code ?? ""), String(err));
  a.handle("me", async (p, from) => ({ p, from: from.id }));
  t.deepEqual(await a.call({ addr: a.addr }, "me", 1), { p: 1, from: a.id });
});

test("peer and peer-closed events follow the connections", async (t) => {
  const net = createDevNetwork();
  const a = await net.start({}, t);
  const b = await net.start({}, t);
  b.handle("ok", async () => "ok");
  const peerEvent = new Promise<{ id: string }>((resolve) => b.once("peer", resolve));
  await a.call({ addr: b.addr }, "ok", null);
  t.is((await peerEvent).id, a.id);
  const closed = new Promise<{ id: string }>((resolve) => b.once("peer-closed", resolve));
  await a.close();
  t.is((await closed).id, a.id);
  t.deepEqual(b.peers(), []);
  const err = await t.throwsAsync(a.call({ addr: b.addr }, "ok", null));
  t.is((err as { code?: string }).code, "closed");
});

test("a peer that goes away fails pending calls with closed; after it restarts with its id, calls redial", async (t) => {
  const net = createDevNetwork();
  const a = await net.start({}, t);
  const bOpts = net.memberOptions();
  const b = await net.start(bOpts, t);
  b.handle("hang", () => new Promise(() => {}));
  const ref = { addr: b.addr, id: b.id };
  const pending = a.call(ref, "hang", null, { timeoutMs: 10_000 });
  // Once b has authenticated a, the call is pending on that connection; then b goes away.
  await new Promise<void>((resolve) => b.once("peer", () => resolve()));
  await b.close();
  const err = await t.throwsAsync(pending);
  t.is((err as { code?: string }).code, "closed");
  // Same key, same port (the one port 0 gave b): the restarted node keeps its identity.
  const b2 = await net.start({ ...bOpts, port: Number(ref.addr.split(":")[1]) }, t);
  b2.handle("id", async () => b2.id);
  t.is(await a.call(ref, "id", null), b.id);
});
