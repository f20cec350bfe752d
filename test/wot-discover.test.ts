// discover(): one URL finds every node's TD URL through the paginated Thing Directory.
import test from "ava";
import { discover } from "../src/wot/discover.js";
import { startFakeThing } from "./helpers/running-thing.js";

test("discover() pages through /things and returns every node's working TD URL", async (t) => {
  const a = await startFakeThing(t, "node-a");
  const b = await startFakeThing(t, "node-b");
  // A knows B, plus three members whose TDs have no HTTP form (skipped: no TD URL to give).
  a.node.others = [b.thing.td, ...[1, 2, 3].map((i) => ({ id: `urn:flowchain:node:x${i}`, title: `x${i}` }))];
  const found = await discover(a.thing.tdUrl, { pageSize: 2 });
  t.deepEqual(found.map((f) => f.id).sort(), [a.thing.td.id, b.thing.td.id].sort());
  for (const f of found) {
    const expected = f.id === a.thing.td.id ? a.thing.tdUrl : b.thing.tdUrl;
    t.is(f.tdUrl, expected);
    const td = (await (await fetch(f.tdUrl)).json()) as { id: string };
    t.is(td.id, f.id);
  }
  // Any URL of the node works as the starting point.
  t.is((await discover(new URL(a.thing.tdUrl).origin)).length, 2);
});

test("discover() rejects when the node is unreachable", async (t) => {
  const a = await startFakeThing(t);
  await a.thing.stop();
  await t.throwsAsync(discover(a.thing.tdUrl));
});
