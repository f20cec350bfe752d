// The parts ChordNode is composed of, each built alone from its components: routing state with a
// recording event sink, the RPC handlers over a bare state, maintenance over a scripted transport.
import test from "ava";
import { silentLogger } from "../src/log.js";
import { Maintenance } from "../src/chord/maintenance.js";
import { RoutingState, type ChordNodeEvents } from "../src/chord/routing-state.js";
import { ChordRpcHandlers } from "../src/chord/rpc-handlers.js";
import type { ChordTransport, PeerRef } from "../src/chord/transport.js";
import { sha256Hex } from "../src/util/hash.js";

/** Ids in ring order, so tests can say "after self" without arithmetic. */
const ids = Array.from({ length: 6 }, (_, i) => sha256Hex(`part-${i}`)).sort();
const peer = (i: number): PeerRef => ({ id: ids[i], addr: `mem:${i}` });

function state(r = 3) {
  const events: Array<[keyof ChordNodeEvents, unknown]> = [];
  const sink = {
    emit<K extends keyof ChordNodeEvents>(event: K, ...args: ChordNodeEvents[K]): boolean {
      events.push([event, args[0]]);
      return true;
    },
  };
  return { s: new RoutingState({ events: sink }, { self: peer(0), successorListLength: r }), events };
}

test("routing state: lists are cut at r and where they wrap past self; suspects are left out and announced", (t) => {
  const { s, events } = state(3);
  s.enterRing(s.buildList([peer(1)], [peer(2), peer(3), peer(4), peer(5)]));
  t.deepEqual(
    s.rawSuccessorList().map((p) => p.id),
    [ids[1], ids[2], ids[3]],
  );
  t.deepEqual(
    s.buildList([peer(4)], [peer(5), peer(0), peer(1)]).map((p) => p.id),
    [ids[4], ids[5]],
    "stops at self",
  );
  t.deepEqual(
    s.buildList([peer(2)], [peer(3), peer(1), peer(4)]).map((p) => p.id),
    [ids[2], ids[3]],
    "stops where the list goes back round the circle",
  );
  t.deepEqual(events.at(-1), ["successors", [peer(1), peer(2), peer(3)]]);
  events.length = 0;
  t.is(s.failure(peer(1)), 1);
  t.is(s.successor().id, ids[2]);
  t.deepEqual(
    events.map(([e]) => e),
    ["successor", "successors"],
  );
  s.success(peer(1));
  t.is(s.successor().id, ids[1]);
  t.false(s.isSuspect(ids[1]));
});

test("rpc handlers: a lone node's first rectifier becomes predecessor and successor", async (t) => {
  const { s } = state();
  s.enterRing([]);
  const rpc = new ChordRpcHandlers({ state: s });
  const res = (await rpc.handle("chord.rectify", {}, peer(3))) as { predecessor: PeerRef };
  t.deepEqual(res.predecessor, peer(3));
  t.deepEqual(s.rawSuccessorList(), [peer(3)]);
  t.deepEqual(await rpc.handle("chord.ping", {}), { id: ids[0] });
});

test("maintenance: a dead successor is dropped after ttl failed rounds, then the node rejoins", async (t) => {
  const { s } = state();
  s.enterRing([peer(1)]);
  const dead: ChordTransport = { call: async () => Promise.reject(new Error("down")) };
  const joins: string[] = [];
  const m = new Maintenance(
    {
      state: s,
      transport: dead,
      lookup: async () => Promise.reject(new Error("no lookups here")),
      join: async (via) => void joins.push(via.id),
      log: silentLogger,
    },
    { ttl: 2 },
  );
  s.addKnownPeer(peer(4));
  await m.tick();
  t.deepEqual(s.rawSuccessorList(), [peer(1)], "one failure only makes it a suspect");
  t.true(s.isSuspect(ids[1]));
  await m.tick();
  t.deepEqual(s.rawSuccessorList(), []);
  t.false(s.isInRing());
  t.deepEqual(joins, [ids[4]], "rejoined through a known peer");
});
