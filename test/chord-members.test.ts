// The member book: members seen are remembered (bounded, most recent first), a member that stops
// answering stays a probe candidate until it failed enough probes over a long enough time, and
// changes are announced at most once per round with `members-book`.
import test from "ava";
import { MemberBook } from "../src/chord/member-book.js";
import { MemoryNetwork } from "../src/chord/memory-transport.js";
import { ChordNode } from "../src/chord/node.js";
import type { PeerRef } from "../src/chord/transport.js";
import { sha256Hex } from "../src/util/hash.js";

const peer = (i: number): PeerRef => ({ id: sha256Hex(`book-${i}`), addr: `mem:book:${i}` });

test("member book: bounded, most recently seen first, failing members kept until forgotten by probes and time", (t) => {
  let now = 0;
  const book = new MemberBook(peer(0), {
    max: 3,
    forgetAfterFailures: 3,
    forgetAfterMs: 60_000,
    now: () => now,
  });
  for (let i = 1; i <= 4; i++) book.seen(peer(i));
  t.deepEqual(
    book.members().map((p) => p.id),
    [peer(4).id, peer(3).id, peer(2).id],
    "the least recently seen went first",
  );
  book.seen(peer(0));
  t.is(book.size, 3, "never ourselves");
  t.true(book.takeChanged());
  t.false(book.takeChanged(), "announced once");
  book.failed(peer(2));
  t.deepEqual(book.rejoinCandidates(3).at(-1), peer(2), "failing members are rejoin candidates last");
  // Three failed probes in quick succession: not yet forgotten (too soon).
  for (let round = 0; round < 3; round++) book.probeFailed(peer(2), round);
  t.is(book.entry(peer(2).id)?.probeFailures, 3);
  t.false(book.takeChanged());
  now = 61_000;
  book.probeFailed(peer(2), 10);
  t.is(book.entry(peer(2).id), null, "forgotten after enough failed probes over enough time");
  t.true(book.takeChanged());
  // A member that answers again starts over.
  book.seen(peer(5));
  book.probeFailed(peer(5), 0);
  book.seen(peer(5));
  t.deepEqual(book.entry(peer(5).id), { failures: 0, probeFailures: 0 });
});

test("member book: a failing member backs off between probes; urgent members come first", (t) => {
  const book = new MemberBook(peer(0));
  book.seen(peer(1));
  book.seen(peer(2));
  const none = new Set<string>();
  t.deepEqual(book.nextProbe(0, none), peer(1), "never-probed, oldest first");
  t.deepEqual(book.nextProbe(1, none), peer(2));
  book.probeFailed(peer(2), 1);
  book.probeFailed(peer(2), 3);
  // peer(2) waits 4 rounds after its second failure: only peer(1) is offered meanwhile.
  for (let round = 4; round < 7; round++) t.deepEqual(book.nextProbe(round, none), peer(1));
  t.deepEqual(book.nextProbe(7, none), peer(2));
  book.hint(peer(3));
  t.true(book.hasUrgent());
  t.deepEqual(book.nextProbe(8, none), peer(3));
  t.false(book.hasUrgent());
  t.is(book.nextProbe(9, new Set([peer(1).id, peer(2).id, peer(3).id])), null);
});

test("ChordNode.knownMembers keeps members that stopped answering and announces changes once per round", async (t) => {
  const net = new MemoryNetwork();
  const nodes = [0, 1, 2].map((i) => {
    const self = { id: sha256Hex(`kmem-${i}`), addr: `mem:kmem:${i}` };
    const n = new ChordNode({ self, transport: net.transport(self.id), successorListLength: 2 });
    net.register(n);
    return n;
  });
  const [a, b, c] = nodes;
  const books: PeerRef[][] = [];
  a.on("members-book", (list: PeerRef[]) => books.push(list));
  a.create();
  await b.join(a.self);
  await c.join(a.self);
  for (let k = 0; k < 4; k++) await Promise.all(nodes.map((n) => n.tick()));
  const ids = (l: PeerRef[]) => l.map((p) => p.id).sort();
  t.deepEqual(ids(a.knownMembers()), ids([b.self, c.self]));
  t.true(books.length >= 1 && books.length <= 4, "at most once per round");
  t.deepEqual(ids(books.at(-1)!), ids([b.self, c.self]));
  net.kill(c.self.id);
  for (let k = 0; k < 6; k++) await Promise.all([a.tick(), b.tick()]);
  t.false(
    a.rawSuccessorList().some((p) => p.id === c.self.id),
    "routing dropped the dead member",
  );
  t.true(
    a.knownMembers().some((p) => p.id === c.self.id),
    "the book still remembers it",
  );
  const d = { id: sha256Hex("kmem-outsider"), addr: "mem:kmem:x" };
  const before = books.length;
  a.addKnownPeer(d);
  a.addKnownPeer(d);
  await a.tick();
  t.is(books.length, before + 1, "one announcement for the new member");
  t.true(books.at(-1)!.some((p) => p.id === d.id));
});
