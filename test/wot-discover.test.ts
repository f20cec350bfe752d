// discover(): one URL finds every node's TD URL through the paginated Thing Directory.
import test from "ava";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
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

test("discover() gives up on a node that answers nothing, or stalls mid-body, by its deadline", async (t) => {
  // Headers and the start of a body, then nothing: a hung peer, not a refused one.
  const stalls = createServer((_req, res) => {
    res.writeHead(200, { "content-type": "application/json" });
    res.write("[");
  });
  const silent = createServer(() => undefined);
  for (const s of [stalls, silent]) {
    await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
    t.teardown(() => {
      s.closeAllConnections();
      s.close();
    });
  }
  for (const s of [stalls, silent]) {
    const { port } = s.address() as AddressInfo;
    const started = Date.now();
    const err = await t.throwsAsync(discover(`http://127.0.0.1:${port}`, { timeoutMs: 300 }));
    t.regex(err!.message, /no answer within 300 ms/);
    t.true(Date.now() - started < 5000);
  }
});
