// WebSocket events with a raw `ws` client in the binding's wire format (one text frame per event,
// the JSON payload): each event arrives once per subscription, and only event forms are offered.
import test from "ava";
import WebSocket from "ws";
import { startFakeThing } from "./helpers/running-thing.js";

function subscribe(
  href: string,
): Promise<{ ws: WebSocket; heights: number[]; next(h: number): Promise<void> }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(href);
    const heights: number[] = [];
    const waiting = new Map<number, () => void>();
    ws.on("message", (data, isBinary) => {
      const h = (JSON.parse(data.toString()) as { height: number }).height;
      heights.push(h);
      if (isBinary) heights.push(-1); // text frames expected; a binary one fails the comparison
      waiting.get(h)?.();
    });
    ws.once("open", () =>
      resolve({
        ws,
        heights,
        next: (h) => (heights.includes(h) ? Promise.resolve() : new Promise((r) => waiting.set(h, r))),
      }),
    );
    ws.once("error", reject);
  });
}

test("each block event arrives exactly once per WebSocket subscription", async (t) => {
  const { node, href } = await startFakeThing(t);
  const url = href("events", "block", "ws");
  const one = await subscribe(url);
  const two = await subscribe(url);
  t.teardown(() => {
    one.ws.close();
    two.ws.close();
  });
  // Each block is mined only after both sockets got the previous one, and a socket delivers in
  // order, so any duplicate of block n would arrive before block n+1.
  for (let h = 1; h <= 4; h++) {
    node.mine();
    await Promise.all([one.next(h), two.next(h)]);
  }
  t.deepEqual(one.heights, [1, 2, 3, 4]);
  t.deepEqual(two.heights, [1, 2, 3, 4]);

  // Closing one socket unsubscribes it; the other keeps receiving.
  const closed = new Promise((r) => one.ws.once("close", r));
  one.ws.close();
  await closed;
  node.mine();
  await two.next(5);
  t.deepEqual(two.heights, [1, 2, 3, 4, 5]);
  t.deepEqual(one.heights, [1, 2, 3, 4]);
});

test("WebSocket forms are offered for events only; action and property paths are refused", async (t) => {
  const { thing } = await startFakeThing(t);
  const wsForms = (["properties", "actions", "events"] as const).flatMap((k) =>
    Object.values(thing.td[k] as Record<string, { forms: { href: string }[] }>).flatMap((a) =>
      a.forms.filter((f) => f.href.startsWith("ws:")).map(() => k),
    ),
  );
  t.deepEqual([...new Set(wsForms)], ["events"]);
  const base = new URL(`ws://127.0.0.1:${thing.ports.ws}/`);
  const slug = new URL(
    (thing.td.events as Record<string, { forms: { href: string }[] }>).block!.forms[0]!.href,
  ).pathname.split("/")[1];
  for (const path of [`/${slug}/actions/inventory`, `/${slug}/properties/chain`]) {
    const ws = new WebSocket(new URL(path, base));
    const outcome = await new Promise<string>((resolve) => {
      ws.once("open", () => resolve("open"));
      ws.once("error", () => resolve("refused"));
    });
    t.is(outcome, "refused", path);
  }
});
