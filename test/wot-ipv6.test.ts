// An IPv6 advertised host: bracketed in every form and in the TD URL.
import test from "ava";
import { startThing } from "../src/wot/thing-server.js";
import { FakeNode } from "./helpers/fake-node.js";
import { fakeAuth } from "./helpers/running-thing.js";

test("an IPv6 host is advertised in brackets and works", async (t) => {
  const node = new FakeNode("v6");
  const thing = await startThing(node, { host: "::1", httpPort: 0, coapPort: 0, wsPort: 0 });
  t.teardown(() => thing.stop());
  t.is(thing.tdUrl, `http://[::1]:${thing.ports.http}/.well-known/wot`);
  const td = (await (await fetch(thing.tdUrl)).json()) as Record<string, unknown>;
  const put = (td.actions as Record<string, { forms: { href: string }[] }>).put!.forms;
  for (const f of put) t.is(new URL(f.href).hostname, "[::1]");
  const res = await fetch(put[0]!.href, {
    method: "POST",
    headers: { "content-type": "application/json", ...fakeAuth(put[0]!.href) },
    body: '{"value":1}',
  });
  t.is(res.status, 200);
});
