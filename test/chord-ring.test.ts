// Ring behaviour over the in-process MemoryNetwork: convergence from joins in any order, correct
// lookups, repair after mass failure, rejoin of a cut-off node, and refusal of junk input.
// Rounds are driven explicitly with tick(); no timers, no sleeps.
import test from "ava";
import { fromBig, toBig } from "../src/chord/id.js";
import { seededRandom as rng } from "../src/chord/prng.js";
import { ChordNode } from "../src/chord/node.js";
import { CHORD_METHODS, isChordMethod } from "../src/chord/wire.js";
import type { ChordTransport, PeerRef } from "../src/chord/transport.js";
import { InputError } from "../src/util/errors.js";
import { sha256Hex } from "../src/util/hash.js";
import {
  makeNodes,
  ownerOf,
  round,
  roundsToConverge,
  sortedIds,
  wrongLists,
  wrongPredecessors,
  wrongSuccessors,
} from "./chord-helpers.js";

type Order = "ascending" | "descending" | "random";

function ordered(nodes: ChordNode[], order: Order, seed: number): ChordNode[] {
  const copy = [...nodes];
  if (order === "ascending") return copy.sort((a, b) => (a.self.id < b.self.id ? -1 : 1));
  if (order === "descending") return copy.sort((a, b) => (a.self.id < b.self.id ? 1 : -1));
  const rand = rng(seed);
  return copy
    .map((n) => ({ n, k: rand() }))
    .sort((a, b) => a.k - b.k)
    .map((x) => x.n);
}

/** Joins one at a time through the first node, with one maintenance round after each join. */
async function buildRing(nodes: ChordNode[], r: number): Promise<void> {
  nodes[0].create();
  for (let i = 1; i < nodes.length; i++) {
    await nodes[i].join(nodes[0].self);
    await round(nodes.slice(0, i + 1));
  }
  const k = await roundsToConverge(nodes, r, 3 * r + 10);
  if (k < 0) throw new Error("ring did not converge");
}

test("a one-node ring owns every key and answers lookups locally", async (t) => {
  const { nodes } = makeNodes(1, "solo");
  const [a] = nodes;
  a.create();
  t.deepEqual(a.successor(), a.self);
  t.is(a.predecessor(), null);
  t.true(a.isResponsibleFor(a.self.id));
  t.true(a.isResponsibleFor(fromBig(toBig(a.self.id) + 1n)));
  const res = await a.lookup(sha256Hex("k"));
  t.deepEqual(res.owner, a.self);
  t.is(res.hops, 0);
  await a.tick(); // maintenance on a lone ring must not fail or invent neighbours
  t.deepEqual(a.successor(), a.self);
});

test("a second node joining a lone node forms a consistent two-node ring", async (t) => {
  const { nodes } = makeNodes(2, "pair");
  const [a, b] = nodes;
  const seen: (PeerRef | null)[] = [];
  a.on("successor", (p: PeerRef | null) => seen.push(p));
  a.create();
  await b.join(a.self);
  await round(nodes);
  await round(nodes);
  t.is(a.successor().id, b.self.id);
  t.is(b.successor().id, a.self.id);
  t.is(a.predecessor()?.id, b.self.id);
  t.is(b.predecessor()?.id, a.self.id);
  t.true(
    seen.some((p) => p?.id === b.self.id),
    "successor event announced the new successor",
  );
  const key = sha256Hex("some key");
  const owner = ownerOf(sortedIds(nodes), key);
  t.is((await a.lookup(key)).owner.id, owner);
  t.is((await b.lookup(key)).owner.id, owner);
  t.true(a.isResponsibleFor(key) !== b.isResponsibleFor(key), "exactly one owner");
});

for (const order of ["ascending", "descending", "random"] as Order[]) {
  for (const n of [3, 9, 24]) {
    test(`${n} nodes joining one at a time in ${order} order converge to the sorted ring`, async (t) => {
      const r = 4;
      const { nodes } = makeNodes(n, `seq-${order}-${n}`, r);
      const joinOrder = ordered(nodes, order, n);
      joinOrder[0].create();
      for (let i = 1; i < n; i++) {
        await joinOrder[i].join(joinOrder[0].self);
        // Rounds run every node concurrently, so the new node's predecessor may read the
        // successor's predecessor pointer before the newcomer rectified it: two rounds at most.
        const members = joinOrder.slice(0, i + 1);
        let k = 0;
        while (k < 2 && wrongSuccessors(members) > 0) {
          await round(members);
          k++;
        }
        t.is(wrongSuccessors(members), 0, `successors right within 2 rounds after join ${i}`);
      }
      const k = await roundsToConverge(nodes, r, r + 2);
      t.true(k >= 0, "lists and predecessors converge within r + 2 rounds");
    });
  }

  test(`16 nodes joining all at once in ${order} order converge within a bounded number of rounds`, async (t) => {
    const r = 4;
    const n = 16;
    const { nodes } = makeNodes(n, `burst-${order}`, r);
    const joinOrder = ordered(nodes, order, 7);
    joinOrder[0].create();
    // No maintenance between joins: every newcomer only knows what the entry node knew.
    for (let i = 1; i < n; i++) await joinOrder[i].join(joinOrder[0].self);
    const k = await roundsToConverge(nodes, r, 2 * n);
    t.true(k >= 0, `converged in ${k} rounds`);
    t.log(`${order}: ${k} rounds`);
  });
}

test("lookups from every node return the brute-force owner, with hops counted", async (t) => {
  const r = 8;
  const { nodes } = makeNodes(40, "lookup", r);
  await buildRing(nodes, r);
  const ids = sortedIds(nodes);
  const rand = rng(3);
  let remote = 0;
  for (let i = 0; i < 400; i++) {
    const from = nodes[Math.floor(rand() * nodes.length)];
    const key = sha256Hex(`key-${i}`);
    const res = await from.lookup(key);
    t.is(res.owner.id, ownerOf(ids, key));
    t.is(res.hops, res.path.length);
    if (res.owner.id !== from.self.id) {
      remote++;
      t.true(res.hops >= 1);
      t.is(res.path[res.path.length - 1], res.owner.id, "the owner is the last contact");
    } else {
      t.is(res.hops, 0);
    }
  }
  t.true(remote > 300);
  // Keys exactly at a node id and just after it exercise the closed/open interval ends.
  for (const id of ids.slice(0, 5)) {
    t.is((await nodes[7].lookup(id)).owner.id, id);
    const after = fromBig(toBig(id) + 1n);
    t.is((await nodes[7].lookup(after)).owner.id, ownerOf(ids, after));
  }
  // Exactly one node considers itself responsible for each key.
  for (let i = 0; i < 50; i++) {
    const key = sha256Hex(`resp-${i}`);
    const owners = nodes.filter((n) => n.isResponsibleFor(key));
    t.is(owners.length, 1);
    t.is(owners[0].self.id, ownerOf(ids, key));
  }
  t.true(nodes[0].fingerSummary().distinct > 3, "fingers were fixed");
});

test("after 25% of the nodes crash at once, successors are right within 2 rounds and lists within r + 2", async (t) => {
  const r = 8;
  const { net, nodes } = makeNodes(48, "kill", r);
  await buildRing(nodes, r);
  const rand = rng(11);
  const victims = nodes
    .map((n) => ({ n, k: rand() }))
    .sort((a, b) => a.k - b.k)
    .slice(0, 12);
  for (const { n } of victims) net.kill(n.self.id);
  const live = nodes.filter((n) => net.isAlive(n.self.id));
  const ids = sortedIds(live);
  // Lookups straight after the crash route around the dead nodes.
  for (let i = 0; i < 100; i++) {
    const key = sha256Hex(`after-kill-${i}`);
    t.is((await live[i % live.length].lookup(key)).owner.id, ownerOf(ids, key));
  }
  let succRounds = -1;
  let listRounds = -1;
  for (let k = 1; k <= r + 2; k++) {
    await round(live);
    if (succRounds < 0 && wrongSuccessors(live) === 0) succRounds = k;
    if (listRounds < 0 && wrongLists(live, r) === 0) listRounds = k;
  }
  t.true(succRounds >= 1 && succRounds <= 2, `successors right after ${succRounds} rounds`);
  t.true(listRounds >= 1 && listRounds <= r + 2, `lists right after ${listRounds} rounds`);
  t.is(wrongPredecessors(live), 0);
});

test("a single failed request only makes a successor suspect; ttl consecutive failures remove it", async (t) => {
  const { net, nodes } = makeNodes(6, "ttl", 3);
  await buildRing(nodes, 3);
  const ids = sortedIds(nodes);
  const a = nodes.find((n) => n.self.id === ids[0])!;
  const b = nodes.find((n) => n.self.id === ids[1])!;
  net.kill(b.self.id);
  await a.stabilize();
  t.is(a.successor().id, ids[2], "routing skips the suspect at once");
  t.is(a.rawSuccessorList()[0].id, b.self.id, "but it stays listed after one failure");
  net.register(b); // it was only a blip
  await a.stabilize();
  t.is(a.successor().id, b.self.id, "a success clears the suspicion");
  net.kill(b.self.id);
  await a.stabilize();
  await a.stabilize();
  t.false(
    a.rawSuccessorList().some((p) => p.id === b.self.id),
    "dropped after ttl = 2 consecutive failures",
  );
});

test("a node whose whole successor list died rejoins through a known peer", async (t) => {
  const r = 3;
  const { net, nodes } = makeNodes(14, "rejoin", r);
  await buildRing(nodes, r);
  const ids = sortedIds(nodes);
  const x = nodes.find((n) => n.self.id === ids[4])!;
  for (const d of ids.slice(5, 5 + r)) net.kill(d);
  // Forget fingers' help: the only way back in is the known-peer set.
  const farPeer = nodes.find((n) => n.self.id === ids[10])!;
  x.addKnownPeer(farPeer.self);
  const live = nodes.filter((n) => net.isAlive(n.self.id));
  const liveIds = sortedIds(live);
  for (let k = 0; k < r + 4; k++) await round(live);
  t.true(x.isInRing());
  t.is(x.successor().id, liveIds[(liveIds.indexOf(x.self.id) + 1) % liveIds.length]);
  t.is(wrongSuccessors(live), 0);
  t.is(wrongLists(live, r), 0);
});

test("a node cut off with no live known peer goes on as a ring of one and merges back once a peer answers", async (t) => {
  const { net, nodes } = makeNodes(3, "alone", 2);
  await buildRing(nodes, 2);
  const [a, b, c] = nodes;
  net.kill(b.self.id);
  net.kill(c.self.id);
  for (let k = 0; k < 4; k++) await a.tick();
  // Waiting cut off would deadlock two such nodes; alone, it owns every key until the others return.
  t.true(a.isInRing());
  t.deepEqual(a.successors(), []);
  t.is((await a.lookup(sha256Hex("x"))).owner.id, a.self.id);
  // Once a peer is back and known, maintenance brings the node back in.
  net.register(b);
  a.addKnownPeer(b.self);
  for (let k = 0; k < 4; k++) await round([a, b]);
  t.true(a.isInRing());
  t.is(a.successor().id, b.self.id);
  t.is(b.successor().id, a.self.id);
});

test("handle() rejects junk params with InputError and changes nothing", async (t) => {
  const { nodes } = makeNodes(4, "junk", 3);
  await buildRing(nodes, 3);
  const n = nodes[0];
  const before = { pred: n.predecessor(), list: n.rawSuccessorList() };
  const goodFrom = nodes[1].self;
  const cases: [string, unknown, PeerRef | undefined][] = [
    ["chord.closestPreceding", { key: "xyz" }, goodFrom],
    ["chord.closestPreceding", { key: "A".repeat(64) }, goodFrom],
    ["chord.closestPreceding", { key: 5 }, goodFrom],
    ["chord.closestPreceding", {}, goodFrom],
    ["chord.closestPreceding", { key: "a".repeat(64), extra: 1 }, goodFrom],
    ["chord.closestPreceding", ["a".repeat(64)], goodFrom],
    ["chord.closestPreceding", "a".repeat(64), goodFrom],
    ["chord.ping", { hello: 1 }, goodFrom],
    ["chord.neighbors", 7, goodFrom],
    ["chord.getSuccessorList", { x: null }, goodFrom],
    ["chord.rectify", {}, undefined],
    ["chord.rectify", {}, { id: "nothex", addr: "h:1" } as PeerRef],
    ["chord.rectify", {}, { id: "b".repeat(64), addr: 12 } as unknown as PeerRef],
    ["chord.rectify", {}, { id: "b".repeat(64), addr: "x".repeat(1000) }],
    ["chord.rectify", { peer: goodFrom }, goodFrom],
    ["chord.merge", {}, goodFrom],
    ["chord.merge", { peer: { id: "nothex", addr: "h:1" } }, goodFrom],
    ["chord.merge", { peer: goodFrom, extra: 1 }, goodFrom],
    ["chord.nope", {}, goodFrom],
    ["__proto__", {}, goodFrom],
  ];
  for (const [method, params, from] of cases) {
    await t.throwsAsync(() => n.handle(method as never, params, from), { instanceOf: InputError }, method);
  }
  t.deepEqual(n.predecessor(), before.pred);
  t.deepEqual(n.rawSuccessorList(), before.list);
  // And the valid forms answer plain JSON.
  const ans = (await n.handle("chord.closestPreceding", { key: "a".repeat(64) }, goodFrom)) as Record<
    string,
    unknown
  >;
  t.true(Array.isArray(ans.successors) && Array.isArray(ans.closest));
  t.deepEqual(await n.handle("chord.ping", undefined, goodFrom), { id: n.self.id });
  t.throws(() => n.isResponsibleFor("zz"), { instanceOf: InputError });
  // Every advertised method is answered by handle() (none falls through to "unknown").
  for (const m of CHORD_METHODS) {
    if (m === "chord.closestPreceding") continue;
    const params = m === "chord.merge" ? { peer: nodes[2].self } : {};
    await t.notThrowsAsync(() => n.handle(m, params, goodFrom), m);
  }
  t.false(isChordMethod("chord.nope"));
  await t.throwsAsync(() => n.lookup("zz"), { instanceOf: InputError });
});

test("junk answers from a remote are never adopted: join fails cleanly and the node stays out", async (t) => {
  const self = { id: sha256Hex("victim"), addr: "mem:victim" };
  const liar = { id: sha256Hex("liar"), addr: "mem:liar" };
  const answers: unknown[] = [
    { successors: [{ id: "zz", addr: "x" }], closest: [] },
    { successors: "all of them", closest: [] },
    { successors: new Array(1000).fill(liar), closest: [] },
    null,
    "ok",
  ];
  for (const answer of answers) {
    const transport: ChordTransport = { call: async () => answer };
    const node = new ChordNode({ self, transport });
    await t.throwsAsync(() => node.join(liar));
    t.false(node.isInRing());
    t.deepEqual(node.rawSuccessorList(), []);
  }
});

test("start() and stop() drive maintenance with unref'd timers", async (t) => {
  const { nodes } = makeNodes(3, "timers", 2);
  nodes[0].create();
  await nodes[1].join(nodes[0].self);
  await nodes[2].join(nodes[0].self);
  const settled = new Promise<void>((resolve) => {
    const check = () => {
      if (wrongSuccessors(nodes) === 0 && wrongPredecessors(nodes) === 0) resolve();
    };
    for (const n of nodes) {
      n.on("successor", check);
      n.on("predecessor", check);
    }
  });
  // The node's timers are unref'd on purpose; this one keeps the test process alive meanwhile.
  const keepAlive = setInterval(() => undefined, 1000);
  t.teardown(() => clearInterval(keepAlive));
  for (const n of nodes) n.start(5);
  t.teardown(() => nodes.forEach((n) => n.stop()));
  await settled;
  t.is(wrongSuccessors(nodes), 0);
});
