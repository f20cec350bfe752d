// The in-process peer transport: the same call semantics as PeerNetwork over sockets (sender,
// errors, JSON copies, limits, membership) and the hub's fault hooks (partition, cut link, delay,
// crash and restart). Ends with a Chord ring running over it through the node's chord adapter.
import test, { type ExecutionContext } from "ava";
import { toBig } from "../src/chord/id.js";
import { ChordNode } from "../src/chord/node.js";
import { CHORD_METHODS } from "../src/chord/wire.js";
import { createDevNetwork, type DevNetwork } from "../src/net/dev-network.js";
import {
  MemoryPeerHub,
  MemoryPeerNetwork,
  NetError,
  type MemoryPeerNetworkOptions,
  type PeerInfo,
  type PeerNetwork,
  type PeerTransport,
} from "../src/net/index.js";
import { PeerChordTransport } from "../src/node/peer-chord-transport.js";
import { AuthError, ConflictError, InputError, NotFoundError } from "../src/util/errors.js";
import { sha256Hex } from "../src/util/hash.js";

async function member(
  t: ExecutionContext,
  hub: MemoryPeerHub,
  dev: DevNetwork,
  extra: Partial<MemoryPeerNetworkOptions> = {},
): Promise<MemoryPeerNetwork> {
  const net = new MemoryPeerNetwork(hub, { ...dev.memberOptions(), ...extra });
  t.teardown(() => net.close());
  await net.listen();
  return net;
}

async function trio(t: ExecutionContext, extra: Partial<MemoryPeerNetworkOptions> = {}) {
  const hub = new MemoryPeerHub();
  const dev = createDevNetwork();
  const [a, b, c] = [
    await member(t, hub, dev, extra),
    await member(t, hub, dev, extra),
    await member(t, hub, dev, extra),
  ];
  for (const n of [a, b, c]) n.handle("id", async () => n.id);
  return { hub, dev, a, b, c };
}

function never(): Promise<unknown> {
  return new Promise(() => {});
}

/** Serves `method` with an answer the test releases; `started` resolves once a call arrived. */
function slowHandler(net: MemoryPeerNetwork, method: string) {
  let release!: () => void;
  const started = new Promise<void>((r) => (release = r));
  let resolve: ((v: unknown) => void) | undefined;
  net.handle(method, () => {
    release();
    return new Promise((r) => (resolve = r));
  });
  return { started, answer: (v: unknown) => resolve!(v) };
}

/** A call that must time out and not fail sooner: a cut link is silent, not refused. */
async function timesOut(
  t: ExecutionContext,
  p: Promise<unknown>,
  timeoutMs: number,
  t0 = Date.now(),
): Promise<void> {
  const err = await t.throwsAsync(p, { instanceOf: NetError });
  t.is((err as NetError).code, "timeout");
  t.true(Date.now() - t0 >= timeoutMs - 5, "failed only at its deadline");
}

test("members call each other by hub-assigned address and handlers see the authenticated caller", async (t) => {
  const hub = new MemoryPeerHub();
  const dev = createDevNetwork();
  const a = await member(t, hub, dev);
  const b = await member(t, hub, dev);
  t.regex(a.addr, /^mem-\d+:\d+$/);
  t.not(a.addr, b.addr);
  const seen: Array<{ id: string; addr: string }> = [];
  const peersOfA: PeerInfo[] = [];
  const peersOfB: PeerInfo[] = [];
  a.on("peer", (p) => peersOfA.push(p));
  b.on("peer", (p) => peersOfB.push(p));
  for (const p of [a, b]) {
    p.handle("echo", async (params, from) => {
      seen.push(from);
      return { params, at: p.id };
    });
  }
  // The payload claims another sender; the hub knows better.
  t.deepEqual(await a.call({ addr: b.addr }, "echo", { from: "someone" }), {
    params: { from: "someone" },
    at: b.id,
  });
  t.deepEqual(await b.call({ addr: a.addr, id: a.id }, "echo", [1]), { params: [1], at: a.id });
  t.deepEqual(seen, [
    { id: a.id, addr: a.addr },
    { id: b.id, addr: b.addr },
  ]);
  t.deepEqual(
    peersOfA.map((p) => p.id),
    [b.id],
  );
  t.deepEqual(
    peersOfB.map((p) => p.id),
    [a.id],
  );
  t.deepEqual(
    a.peers().map((p) => p.id),
    [b.id],
  );
  // A self call keeps the wire's semantics too.
  t.deepEqual(await a.call({ addr: a.addr }, "echo", { x: undefined }), { params: {}, at: a.id });
});

test("calls settle asynchronously: the handler runs on a later turn", async (t) => {
  const { a, b } = await trio(t);
  let ran = false;
  b.handle("mark", async () => {
    ran = true;
    return 1;
  });
  const p = a.call({ addr: b.addr }, "mark", null);
  t.false(ran, "handler did not run inside call()");
  let settled = false;
  void p.then(() => (settled = true));
  await Promise.resolve();
  t.false(settled);
  t.is(await p, 1);
});

test("handler errors reach the caller with their class and code, as over the wire", async (t) => {
  const { a, b } = await trio(t);
  b.handle("input", async () => {
    throw new InputError("bad_thing", "that is bad");
  });
  b.handle("conflict", async () => {
    throw new ConflictError("not_owner", "not mine");
  });
  b.handle("missing", async () => {
    throw new NotFoundError("no such record");
  });
  b.handle("bug", async () => {
    throw Object.assign(new Error("oops"), { code: "EBUG" });
  });
  const input = await t.throwsAsync(a.call({ addr: b.addr }, "input", null), { instanceOf: InputError });
  t.is((input as InputError).code, "bad_thing");
  t.is(input?.message, "that is bad");
  const conflict = await t.throwsAsync(a.call({ addr: b.addr }, "conflict", null), {
    instanceOf: ConflictError,
  });
  t.is((conflict as ConflictError).code, "not_owner");
  await t.throwsAsync(a.call({ addr: b.addr }, "missing", null), { instanceOf: NotFoundError });
  const bug = await t.throwsAsync(a.call({ addr: b.addr }, "bug", null), { instanceOf: NetError });
  t.is((bug as NetError).code, "EBUG");
  const unknown = await t.throwsAsync(a.call({ addr: b.addr }, "nope", null), { instanceOf: NetError });
  t.is((unknown as NetError).code, "unknown_method");
  t.throws(() => b.handle("bad method!", async () => null), { instanceOf: InputError });
});

test("params and results are JSON copies, and frames over maxFrameBytes fail like the real ones", async (t) => {
  const { a, b } = await trio(t, { maxFrameBytes: 4096 });
  const kept = { list: [1, 2], when: new Date(0) };
  b.handle("mutate", async (params) => {
    (params as { list: number[] }).list.push(3);
    return params;
  });
  b.handle("kept", async () => kept);
  b.handle("big", async () => "x".repeat(5000));
  const sent = { list: [1], when: new Date(0) };
  const got = (await a.call({ addr: b.addr }, "mutate", sent)) as { list: number[]; when: unknown };
  t.deepEqual(sent.list, [1], "the caller's object is untouched");
  t.deepEqual(got, { list: [1, 3], when: new Date(0).toISOString() });
  const r = (await a.call({ addr: b.addr }, "kept", null)) as { list: number[] };
  r.list.push(99);
  t.deepEqual(kept.list, [1, 2], "the handler's object is untouched");
  const big = await t.throwsAsync(a.call({ addr: b.addr }, "big", null), { instanceOf: NetError });
  t.is((big as NetError).code, "too_large");
  const req = await t.throwsAsync(a.call({ addr: b.addr }, "kept", "y".repeat(5000)), {
    instanceOf: NetError,
  });
  t.is((req as NetError).code, "too_large");
  const bad = await t.throwsAsync(a.call({ addr: b.addr }, "kept", { n: 1n }), { instanceOf: NetError });
  t.is((bad as NetError).code, "bad_params");
});

test("the default result limit is 1 MiB", async (t) => {
  const { a, b } = await trio(t);
  b.handle("size", async (n) => "x".repeat(n as number));
  t.is(((await a.call({ addr: b.addr }, "size", 1000)) as string).length, 1000);
  const err = await t.throwsAsync(a.call({ addr: b.addr }, "size", 1024 * 1024), { instanceOf: NetError });
  t.is((err as NetError).code, "too_large");
});

test("nobody at the address: unreachable; a slow handler: timeout; a closed caller: closed", async (t) => {
  const { hub, dev, a, b } = await trio(t);
  const none = await t.throwsAsync(a.call({ addr: "mem-999:1" }, "id", null), { instanceOf: NetError });
  t.is((none as NetError).code, "unreachable");
  const bad = await t.throwsAsync(a.call({ addr: "no port" }, "id", null), { instanceOf: InputError });
  t.is((bad as InputError).code, "bad_addr");
  b.handle("hang", never);
  await timesOut(t, a.call({ addr: b.addr }, "hang", null, { timeoutMs: 60 }), 60);
  // The default timeout comes from the options.
  const quick = await member(t, hub, dev, { requestTimeoutMs: 40 });
  await timesOut(t, quick.call({ addr: b.addr }, "hang", null), 40);

  // A clean close fails the calls waiting on it at once, then its address is free.
  const pending = a.call({ addr: b.addr }, "hang", null, { timeoutMs: 10_000 });
  const closedEvents: string[] = [];
  a.on("peer-closed", (p) => closedEvents.push(p.id));
  await new Promise((r) => setImmediate(r));
  await b.close();
  const closed = await t.throwsAsync(pending, { instanceOf: NetError });
  t.is((closed as NetError).code, "closed");
  t.deepEqual(closedEvents, [b.id]);
  const gone = await t.throwsAsync(a.call({ addr: b.addr }, "id", null), { instanceOf: NetError });
  t.is((gone as NetError).code, "unreachable");
  await a.close();
  const own = await t.throwsAsync(a.call({ addr: quick.addr }, "id", null), { instanceOf: NetError });
  t.is((own as NetError).code, "closed");
});

test("membership: a bad own token is refused at construction, outsiders and impostors at the call", async (t) => {
  const hub = new MemoryPeerHub();
  const dev = createDevNetwork();
  const other = createDevNetwork();
  const a = await member(t, hub, dev);
  a.handle("id", async () => a.id);
  // A token of another network does not verify for ours.
  t.throws(() => new MemoryPeerNetwork(hub, { ...dev.memberOptions(), proof: other.memberOptions().proof }), {
    instanceOf: InputError,
    message: /own membership proof/,
  });
  // A member of another network is refused both ways.
  const outsider = await member(t, hub, other);
  outsider.handle("id", async () => outsider.id);
  const err = await t.throwsAsync(outsider.call({ addr: a.addr }, "id", null), { instanceOf: AuthError });
  t.is((err as AuthError).code, "wrong_network");
  await t.throwsAsync(a.call({ addr: outsider.addr }, "id", null), { instanceOf: AuthError });
  // The expected id must match the peer at that address.
  const b = await member(t, hub, dev);
  // Another id than a's (and not b's own, which would be a call to itself).
  const notA = (a.id[0] === "0" ? "1" : "0") + a.id.slice(1);
  const mismatch = await t.throwsAsync(b.call({ addr: a.addr, id: notA }, "id", null), {
    instanceOf: AuthError,
  });
  t.is((mismatch as AuthError).code, "peer_mismatch");
  t.is(await b.call({ addr: a.addr, id: a.id }, "id", null), a.id);
});

test("a requested address is used, and a taken one is refused", async (t) => {
  const hub = new MemoryPeerHub();
  const dev = createDevNetwork();
  const a = await member(t, hub, dev, { addr: "node-a:7000" });
  t.is(a.addr, "node-a:7000");
  const dup = new MemoryPeerNetwork(hub, { ...dev.memberOptions(), addr: "node-a:7000" });
  t.teardown(() => dup.close());
  await t.throwsAsync(dup.listen(), { message: /EADDRINUSE/ });
});

test("partition: calls across groups time out silently, within a group they work; heal restores", async (t) => {
  const { hub, a, b, c } = await trio(t);
  const d = await member(t, hub, createDevNetwork());
  // Groups may name networks by address or by id; unnamed ones (c) are together in one more group.
  hub.partition([[a.addr], [b.id]]);
  await timesOut(t, a.call({ addr: b.addr }, "id", null, { timeoutMs: 50 }), 50);
  await timesOut(t, b.call({ addr: c.addr }, "id", null, { timeoutMs: 50 }), 50);
  // c and d are in the implicit rest group: d is an outsider, so the call arrives and is refused.
  await t.throwsAsync(c.call({ addr: d.addr }, "id", null), { instanceOf: AuthError });
  t.is(await a.call({ addr: a.addr }, "id", null), a.id, "a node still reaches itself");
  hub.heal();
  t.is(await a.call({ addr: b.addr }, "id", null), b.id);
  t.is(await b.call({ addr: c.addr }, "id", null), c.id);
});

test("a cut link times out both ways while other links work; restore reopens it", async (t) => {
  const { hub, a, b, c } = await trio(t);
  hub.drop(a.addr, b.id);
  await timesOut(t, a.call({ addr: b.addr }, "id", null, { timeoutMs: 50 }), 50);
  await timesOut(t, b.call({ addr: a.addr }, "id", null, { timeoutMs: 50 }), 50);
  t.is(await a.call({ addr: c.addr }, "id", null), c.id);
  t.is(await c.call({ addr: b.addr }, "id", null), b.id);
  hub.restore(b.id, a.addr);
  t.is(await a.call({ addr: b.addr }, "id", null), b.id);
});

test("an answer in flight when the link is cut is lost", async (t) => {
  const { hub, a, b } = await trio(t);
  const { started, answer } = slowHandler(b, "slow");
  const t0 = Date.now();
  const p = a.call({ addr: b.addr }, "slow", null, { timeoutMs: 80 });
  await started;
  hub.drop(a.id, b.id);
  answer("late");
  await timesOut(t, p, 80, t0);
});

test("delay: each message on the link waits, so a round trip takes twice the delay", async (t) => {
  const { hub, a, b, c } = await trio(t);
  hub.delay(a.addr, b.addr, 40);
  const t0 = Date.now();
  t.is(await a.call({ addr: b.addr }, "id", null), b.id);
  t.true(Date.now() - t0 >= 75, "two one-way delays");
  await timesOut(t, b.call({ addr: a.addr }, "id", null, { timeoutMs: 30 }), 30);
  // Which answer comes first, not how fast: a busy machine stretches every round trip.
  const firstOf = async (...calls: Promise<string>[]) => Promise.race(calls);
  hub.delay(a.addr, b.addr, 300);
  t.is(
    await firstOf(
      a.call({ addr: b.addr }, "id", null) as Promise<string>,
      a.call({ addr: c.addr }, "id", null) as Promise<string>,
    ),
    c.id,
    "other links are not delayed",
  );
  hub.delay(a.addr, b.addr, 0);
  hub.delay(a.addr, c.addr, 300);
  t.is(
    await firstOf(
      a.call({ addr: b.addr }, "id", null) as Promise<string>,
      a.call({ addr: c.addr }, "id", null) as Promise<string>,
    ),
    b.id,
    "delay removed",
  );
  hub.delay(a.addr, c.addr, 0);
});

test("crash: the node stops answering without a close, its own calls fail, and it can restart on its address", async (t) => {
  const { hub, dev, a, c } = await trio(t);
  const bOpts = dev.memberOptions();
  const b = await member(t, hub, dev, bOpts);
  b.handle("id", async () => b.id);
  const closedEvents: string[] = [];
  a.on("peer-closed", (p) => closedEvents.push(p.id));
  t.is(await a.call({ addr: b.addr }, "id", null), b.id);
  const { started, answer } = slowHandler(b, "slow");
  const t0 = Date.now();
  const inFlight = a.call({ addr: b.addr }, "slow", null, { timeoutMs: 80 });
  const outgoing = b.call({ addr: c.addr }, "slow-never", null, { timeoutMs: 10_000 });
  c.handle("slow-never", never);
  await started;
  hub.crash(b.addr);
  answer("after the crash");
  await timesOut(t, inFlight, 80, t0);
  await timesOut(t, a.call({ addr: b.addr }, "id", null, { timeoutMs: 50 }), 50);
  const own = await t.throwsAsync(outgoing, { instanceOf: NetError });
  t.is((own as NetError).code, "closed");
  t.deepEqual(closedEvents, [], "a crash sends no close");
  await b.close(); // the corpse keeps its address black-holed
  await timesOut(t, a.call({ addr: b.addr }, "id", null, { timeoutMs: 30 }), 30);

  // Restart: the same key listens on the same address again.
  const peers: string[] = [];
  a.on("peer", (p) => peers.push(p.id));
  const restarted = await member(t, hub, dev, { ...bOpts, addr: b.addr });
  t.is(restarted.id, b.id);
  restarted.handle("id", async () => "again");
  t.is(await a.call({ addr: b.addr }, "id", null), "again");
  t.deepEqual(peers, [restarted.id], "the restarted node is announced as a new connection");
});

test("a Chord ring runs over MemoryPeerNetwork through the node's chord adapter", async (t) => {
  const hub = new MemoryPeerHub();
  const dev = createDevNetwork();
  const n = 6;
  const nodes: ChordNode[] = [];
  for (let i = 0; i < n; i++) {
    const net: PeerTransport = await member(t, hub, dev, { requestTimeoutMs: 200 });
    // PeerChordTransport (src/node) is typed against PeerNetwork; it only calls net.call.
    const chord = new ChordNode({
      self: { id: net.id, addr: net.addr },
      transport: new PeerChordTransport(net as unknown as PeerNetwork),
      successorListLength: 3,
    });
    for (const m of CHORD_METHODS) net.handle(m, (params, from) => chord.handle(m, params, from));
    net.on("peer", (p) => chord.addKnownPeer({ id: p.id, addr: p.addr }));
    nodes.push(chord);
  }
  nodes[0].create();
  for (const node of nodes.slice(1)) await node.join(nodes[0].self);
  const ids = nodes.map((x) => x.self.id).sort();
  const next = (id: string) => ids[(ids.indexOf(id) + 1) % ids.length];
  const converged = () =>
    nodes.every((x) => x.successor().id === next(x.self.id) && x.predecessor() !== null);
  for (let round = 0; round < 20 && !converged(); round++) await Promise.all(nodes.map((x) => x.tick()));
  t.true(converged(), "successors and predecessors right");
  for (let i = 0; i < 20; i++) {
    const key = sha256Hex(`k${i}`);
    const owner = ids.find((id) => toBig(id) >= toBig(key)) ?? ids[0];
    t.is((await nodes[i % n].lookup(key)).owner.id, owner);
  }
});
