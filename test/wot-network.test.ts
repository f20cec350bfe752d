// The Thing of real node processes: libcoap observing `block` on a node gets one notification per
// block the node mines, and one URL discovers every node of the network.
import { authHeaders } from "./helpers/credentials.js";
import test from "ava";
import { execFile } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { Cluster } from "./helpers/cluster.js";
import { eventually } from "./helpers/eventually.js";
import { runCoapClient } from "./wot-coap-helpers.js";

const CLI = join(dirname(fileURLToPath(import.meta.url)), "..", "src", "cli.js");
type Td = {
  actions: Record<string, { forms: { href: string }[] }>;
  properties: Record<string, { forms: { href: string }[] }>;
  events: Record<string, { forms: { href: string }[] }>;
};
const form = (a: { forms: { href: string }[] }, scheme: string) =>
  a.forms.find((f) => f.href.startsWith(scheme))!.href;

test("coap-client-notls observing block on a real node gets exactly one notification per mined block", async (t) => {
  const cluster = new Cluster();
  t.teardown(() => cluster.stop());
  const node = await cluster.start();
  const td = (await (await fetch(node.td!)).json()) as Td;
  const auth = await authHeaders(node.dataDir, "put");
  const observer = runCoapClient(t, ["-s", "60", "-w", form(td.events.block, "coap:")]);
  const heights = () => observer.lines.map((l) => (JSON.parse(l) as { height: number }).height);
  let i = 0;
  const put = () =>
    fetch(form(td.actions.put, "http:"), {
      method: "POST",
      headers: { "content-type": "application/json", ...auth },
      body: JSON.stringify({ value: { i: i++ }, source: "coap-observe" }),
    });
  // Each record makes the miner seal a block; keep writing until the observer has seen some.
  await eventually(
    async () => {
      await put();
      return heights().length >= 4 ? true : undefined;
    },
    "four block notifications",
    60_000,
    300,
  );
  const chain = (await (await fetch(form(td.properties.chain, "http:"))).json()) as { height: number };
  const seen = await eventually(async () => {
    const h = heights();
    return h[h.length - 1] >= chain.height ? h : undefined;
  }, "the notification of the newest block");
  // Consecutive heights: no block missed, none notified twice.
  t.deepEqual(
    seen,
    seen.map((_, k) => seen[0] + k),
  );
});

test("one URL discovers every node of the network", async (t) => {
  const cluster = new Cluster();
  t.teardown(() => cluster.stop());
  const { first } = await cluster.ring(3);
  const expected = cluster.nodes.map((n) => n.td!).sort();
  const found = await eventually(async () => {
    const { stdout } = await promisify(execFile)(process.execPath, [CLI, "discover", first.td!]);
    const urls = stdout.trim().split("\n").sort();
    return urls.length === expected.length ? urls : undefined;
  }, "every node in the directory");
  t.deepEqual(found, expected);
});
