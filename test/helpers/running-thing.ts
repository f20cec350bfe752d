// Starts a real Thing (node-wot servient, real sockets on port 0) over a FakeNode for one test and
// tears it down with the test.
import type { ExecutionContext } from "ava";
import { startThing, type RunningThing } from "../../src/wot/thing-server.js";
import { FakeNode, ROLE_TOKENS } from "./fake-node.js";
import { ACTION_ROLES } from "../../src/wot/access.js";

/** The fake node's credential for the action an href names (undefined for an open one). */
export function fakeCredential(href: string): string | undefined {
  const action = /\/actions\/([^/?]+)/.exec(new URL(href).pathname)?.[1];
  const role = action === undefined ? undefined : ACTION_ROLES[decodeURIComponent(action)];
  return role === undefined ? undefined : ROLE_TOKENS[role];
}

/** The Authorization header the fake node wants for this action href ({} when open). */
export function fakeAuth(href: string): Record<string, string> {
  const token = fakeCredential(href);
  return token === undefined ? {} : { authorization: `Bearer ${token}` };
}

/** A CoAP action href with the fake node's credential as ?access_token= when it needs one. */
export function withFakeToken(href: string): string {
  const token = fakeCredential(href);
  return token === undefined ? href : `${href}?access_token=${token}`;
}

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
