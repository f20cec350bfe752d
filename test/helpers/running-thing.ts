// Starts a real Thing (node-wot servient, real sockets on port 0) over a FakeNode for one test and
// tears it down with the test.
import type { ExecutionContext } from "ava";
import { startThing, type RunningThing } from "../../src/wot/thing-server.js";
import { FakeNode } from "./fake-node.js";

export interface ThingUnderTest {
  node: FakeNode;
  thing: RunningThing;
  /** First form href of an affordance whose href starts with the scheme (and offers `op`). */
  href(kind: "properties" | "actions" | "events", name: string, scheme: string, op?: string): string;
}

export async function startFakeThing(t: ExecutionContext, seed = t.title): Promise<ThingUnderTest> {
  const node = new FakeNode(seed);
  const thing = await startThing(node, { host: "127.0.0.1", httpPort: 0, coapPort: 0, wsPort: 0 });
  t.teardown(() => thing.stop());
  const href = (kind: "properties" | "actions" | "events", name: string, scheme: string, op?: string) => {
    const aff = (thing.td[kind] as Record<string, { forms: { href: string; op?: string | string[] }[] }>)[
      name
    ];
    const form = aff?.forms.find(
      (f) =>
        f.href.startsWith(`${scheme}:`) && (op === undefined || ([] as unknown[]).concat(f.op).includes(op)),
    );
    if (!form) throw new Error(`no ${scheme} form for ${kind}/${name}`);
    return form.href;
  };
  return { node, thing, href };
}
