// Ring unification (issue 10): rings formed apart (a partition, a restart where everyone created a
// ring alone) merge into one correctly ordered ring once their members can reach each other, and
// a member that is really gone costs a bounded number of probes and disturbs nothing.
// Rounds are driven with tick(); no timers, no sleeps: every wait is a bounded number of rounds.
import test from "ava";
import { seededRandom as rng } from "../src/chord/prng.js";
import type { ChordNode } from "../src/chord/node.js";
import type { PeerRef } from "../src/chord/transport.js";
import { sha256Hex } from "../src/util/hash.js";
import { makeNodes, ownerOf, round, roundsToConverge, sortedIds } from "./chord-helpers.js";

/** Creates a ring of `nodes` alone (first creates, the rest join it), converged. */
async function ringOf(nodes: ChordNode[], r: number): Promise<void> {
  nodes[0].create();
  for (const n of nodes.slice(1)) {
    await n.join(nodes[0].self);
    await round(nodes.slice(0, nodes.indexOf(n) + 1));
  }
  if ((await roundsToConverge(nodes, r, 3 * r + 10)) < 0) throw new Error("side ring did not converge");
}

/** Every node finds the brute-force owner of each key. */
async function lookupsAgree(nodes: ChordNode[], keys: number): Promise<number> {
  const ids = sortedIds(nodes);
  let wrong = 0;
  for (let i = 0; i < keys; i++) {
    const key = sha256Hex(`merge-key-${i}`);
    for (const n of nodes) if ((await n.lookup(key)).owner.id !== ownerOf(ids, key)) wrong++;
  }
  return wrong;
}

test("two rings (3 + 2 nodes) merge into one ordered ring when one member knows one of the other ring", async (t) => {
  const r = 3;
  const { nodes } = makeNodes(5, "two-rings", r);
  const [a, b] = [nodes.slice(0, 3), nodes.slice(3)];
  await ringOf(a, r);
  await ringOf(b, r);
  t.is(a[0].successors().length, 2, "the 3-ring is complete by itself");
  // The only link between the rings: one member of A has heard of one member of B.
  a[1].addKnownPeer(b[1].self);
  const k = await roundsToConverge(nodes, r, 20);
  t.true(k >= 0, `one ring within 20 rounds (took ${k})`);
  t.log(`3 + 2 merged in ${k} rounds`);
  t.is(await lookupsAgree(nodes, 20), 0);
});

test("a 32-node ring split in two halves repairs into two rings, and after the heal is one ring again", async (t) => {
  const r = 4;
  const { net, nodes } = makeNodes(32, "split", r);
  await ringOf(nodes, r);
  // Fingers and lookups fill every member's book with members of both halves.
  for (let i = 0; i < 3; i++) await round(nodes);
  const rand = rng(10);
  const shuffled = nodes
    .map((n) => ({ n, k: rand() }))
    .sort((x, y) => x.k - y.k)
    .map((x) => x.n);
  const sides = [shuffled.slice(0, 16), shuffled.slice(16)];
  net.partition(...sides.map((s) => s.map((n) => n.self.id)));
  // Each half repairs into its own ring (the far side looks dead)...
  let split = -1;
  for (let k = 1; k <= 40 && split < 0; k++) {
    await round(nodes);
    const conv = await Promise.all(sides.map((s) => roundsToConverge(s, r, 0)));
    if (conv.every((c) => c === 0)) split = k;
  }
  t.true(split > 0, `each half is its own ring after ${split} rounds`);
  // ...and stays split for a while, as a long partition would (probes across keep failing).
  for (let k = 0; k < 30; k++) await round(nodes);
  t.is(await Promise.all(sides.map((s) => roundsToConverge(s, r, 0))).then((c) => c.join()), "0,0");
  t.true(
    sides[0][0].knownMembers().some((p) => sides[1].some((n) => n.self.id === p.id)),
    "the far side is still in the book",
  );
  net.heal();
  const k = await roundsToConverge(nodes, r, 60);
  t.true(k >= 0, `one ring within 60 rounds of the heal (took ${k})`);
  t.log(`32 nodes, split 16/16: one ring ${k} rounds after the heal`);
  t.is(await lookupsAgree(nodes, 10), 0, "lookups from every node agree on owners");
});

for (const seed of [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]) {
  test(`restart all at once (${seed}): 5 nodes that know each other and each create a ring alone end as one ring`, async (t) => {
    const r = 3;
    const { nodes } = makeNodes(5, `restart-${seed}`, r);
    for (const n of nodes) for (const m of nodes) if (m !== n) n.addKnownPeer(m.self);
    for (const n of nodes) n.create();
    const k = await roundsToConverge(nodes, r, 20);
    t.true(k >= 0, `one ring within 20 rounds (took ${k})`);
    t.is(await lookupsAgree(nodes, 10), 0);
  });
}

test("a member that is really gone disturbs nothing, its probes back off, and it is forgotten in the end", async (t) => {
  const r = 3;
  let now = 0;
  const ghost: PeerRef = { id: sha256Hex("ghost"), addr: "mem:ghost" };
  let ghostCalls = 0;
  const { nodes } = makeNodes(6, "ghost", r, { memberBook: { now: () => now } }, (inner) => ({
    call: (to, method, params) => {
      if (to.id === ghost.id) ghostCalls++;
      return inner.call(to, method, params);
    },
  }));
  await ringOf(nodes, r);
  for (const n of nodes) n.addKnownPeer(ghost);
  const rounds = 300;
  let badRounds = 0;
  for (let k = 0; k < rounds; k++) {
    now += 5_000; // a round every 5 s: 25 minutes in all
    await round(nodes);
    if ((await roundsToConverge(nodes, r, 0)) !== 0) badRounds++;
  }
  t.is(badRounds, 0, "the ring stayed exactly right every round");
  // Backoff doubles up to 64 rounds and the ghost is forgotten after 8 failed probes and 10
  // minutes: about 9 probes per node, each a single failed request.
  t.true(ghostCalls <= 12 * nodes.length, `${ghostCalls} calls to the ghost from ${nodes.length} nodes`);
  t.log(`${ghostCalls} calls to a dead member from ${nodes.length} nodes in ${rounds} rounds`);
  for (const n of nodes)
    t.false(
      n.knownMembers().some((p) => p.id === ghost.id),
      "forgotten",
    );
  t.is(await lookupsAgree(nodes, 10), 0);
});
