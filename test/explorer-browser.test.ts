// The explorer page in a real browser (Debian's chromium driven by playwright-core) against a
// 3-node ring of real processes: what a user sees is what the test asserts, read from the page's
// data-* attributes; the only private door is the page's own tamper hook.
import { authHeaders } from "./helpers/credentials.js";
import test from "ava";
import { existsSync } from "node:fs";
import { mkdir, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type Page } from "playwright-core";
import { keyedChunk } from "../src/node/keyed-chunk.js";
import { Cluster, type NodeProc } from "./helpers/cluster.js";
import { eventually } from "./helpers/eventually.js";

const CHROMIUM = "/usr/bin/chromium";
/** Failure deadlines only: the page polls every 2 s and a CI machine is loaded. */
const SEEN_MS = 15_000;

interface Td {
  actions: Record<string, { forms: { href: string }[] }>;
}

async function tdOf(node: NodeProc): Promise<Td> {
  return (await (await fetch(node.td!)).json()) as Td;
}

interface Put {
  key: string;
  txID: string;
  owner: string;
}

/** The first node's data directory: its credentials go with the calls that need one. */
let adminDir = "";

/** Invokes an action over its HTTP form, as any consumer of the TD would. */
async function invoke<T>(
  td: Td,
  name: string,
  input: unknown,
  headers: Record<string, string> = {},
): Promise<T> {
  const href = td.actions[name].forms.find((f) => f.href.startsWith("http:"))!.href;
  const res = await fetch(href, {
    method: "POST",
    headers: { "content-type": "application/json", ...(await authHeaders(adminDir, name)), ...headers },
    body: input === undefined ? "" : JSON.stringify(input),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${name}: ${res.status} ${text}`);
  return JSON.parse(text) as T;
}

/** True when `key` is in the ring arc (after, upTo]: successor(key) is then `upTo`. */
function inArc(key: string, after: string, upTo: string): boolean {
  return after < upTo ? key > after && key <= upTo : key > after || key <= upTo;
}

/**
 * Puts a record whose key is in (pred, owner], found by trying values here: a node's `transaction`
 * event is about the records it stores (successor(key)), so that is the put its page's feed shows.
 * The arc before `owner` stays its own whichever member before it dies.
 */
async function putOwnedBy(
  td: Td,
  owner: string,
  pred: string,
  value: Record<string, unknown>,
): Promise<Put & { sentAt: number }> {
  const source = "explorer-test";
  for (let i = 0; i < 10_000_000; i++) {
    const chunk = { source, timestamp: Date.now(), value: { ...value, i } };
    if (!inArc(keyedChunk(chunk).key, pred, owner)) continue;
    const sentAt = Date.now();
    return { ...(await invoke<Put>(td, "put", chunk)), sentAt };
  }
  throw new Error(`no key found in (${pred}, ${owner}]`);
}

/** Where the screenshot goes: the CI artifacts dir when there is one, else a file in the temp dir. */
async function screenshotPath(): Promise<string> {
  const artifacts = process.env.ARTIFACTS_DIR;
  if (!artifacts) return join(tmpdir(), `flowchain-explorer-${process.pid}-${Date.now()}.png`);
  await mkdir(artifacts, { recursive: true });
  return join(artifacts, "explorer.png");
}

const ringState = (page: Page) =>
  page.$$eval("#ring circle.node", (cs) =>
    cs.map((c) => ({ id: c.getAttribute("data-id"), state: c.getAttribute("data-state") })),
  );

test("the explorer in chromium: 3 members, a put in the live feed, a proof green then red when tampered, grants and the last checkpoint, a killed member grey", async (t) => {
  if (!existsSync(CHROMIUM)) {
    t.log(`skipped: no browser at ${CHROMIUM} (.ci/run installs Debian's chromium)`);
    t.pass();
    return;
  }
  const cluster = new Cluster();
  t.teardown(() => cluster.stop());
  const { first } = await cluster.ring(3);
  adminDir = first.dataDir;
  const [, second, third] = cluster.nodes;

  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"], headless: true });
  t.teardown(() => browser.close());
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  const origin = new URL(first.td!).origin;
  await page.goto(`${origin}/`);

  // The ring: three members up, this node marked.
  await eventually(
    async () => (await page.locator('#ring circle.node[data-state="up"]').count()) === 3,
    "3 members up on the ring",
    SEEN_MS,
  );
  t.deepEqual((await ringState(page)).map((m) => m.id).sort(), cluster.nodes.map((n) => n.id).sort());
  t.is(await page.getAttribute("#ring circle.node[data-self]", "data-id"), first.id);
  // Live branches: each member's own answer, through this node (the `branches` property).
  await eventually(
    async () => (await page.locator('#live-branches li[data-live="true"]').count()) === 3,
    "3 live branches",
    SEEN_MS,
  );
  for (const n of cluster.nodes) {
    const height = Number(await page.getAttribute(`#live-branches li[data-miner="${n.id}"]`, "data-height"));
    t.true(height >= 1, `${n.id} branch height ${height}`);
  }
  // The feed is subscribed before the put, so the put's event cannot race past it.
  await page.waitForSelector('#feed[data-subscribed~="transaction"]', {
    state: "attached",
    timeout: SEEN_MS,
  });

  // A put over HTTP to the node's put form shows in its page's live feed.
  const td = await tdOf(first);
  const sorted = cluster.nodes.map((n) => n.id).sort();
  const pred = sorted[(sorted.indexOf(first.id) + sorted.length - 1) % sorted.length];
  const rec = await putOwnedBy(td, first.id, pred, { celsius: 21.5 });
  t.is(rec.owner, first.id);
  await page.waitForSelector(`#feed li[data-kind="transaction"][data-txid="${rec.txID}"]`, {
    state: "attached",
    timeout: SEEN_MS,
  });
  t.log(`put -> live feed: ${Date.now() - rec.sentAt} ms (issue target 2 s; timed in bench, not here)`);

  // The record view: every step of the proof green once the record is sealed in a block.
  // A record is provable once a block seals it: looked up again until then.
  const verified = await eventually(
    () => page.evaluate(`flowchainExplorer.lookUp(${JSON.stringify(rec.txID)}).then((r) => r?.ok === true)`),
    "a verified proof of the put",
    30_000,
    500,
  ).catch(() => false);
  t.true(verified, (await page.textContent("#record-panel")) ?? "");
  const steps = await page.$$eval("#steps li", (ls) => ls.map((l) => l.getAttribute("data-ok")));
  t.true(steps.length > 0);
  t.true(
    steps.every((s) => s === "true"),
    JSON.stringify(steps),
  );
  t.is(await page.getAttribute("#record-panel", "data-verdict"), "verified");

  // Tampered in the page's test hook: one byte of the record's value changes, the page shows red.
  await page.evaluate(`flowchainExplorer.hooks.tamper = (p) => {
    p.record.value = { ...p.record.value, celsius: 21.6 };
    return p;
  }`);
  await page.fill("#lookup-id", rec.txID);
  await page.click("#lookup button[type=submit]");
  await page.waitForSelector('#record-panel[data-verdict="failed"]', { state: "attached", timeout: SEEN_MS });
  t.true(
    (await page.$$eval("#steps li", (ls) => ls.map((l) => l.getAttribute("data-ok")))).includes("false"),
  );

  // Flowcoin: an approval of the record grants its miner (this node) a coin; the page's table of
  // grants, read from the ring's records through the `query` action, shows it.
  const granted = await invoke<{ granted: boolean }>(td, "approve", { txID: rec.txID });
  t.true(granted.granted, JSON.stringify(granted));
  await page.locator(`#balances tr[data-member="${first.id}"][data-grants="1"]`).waitFor({
    state: "attached",
    timeout: 30_000,
  });
  // The last checkpoint: none until the admin's inventory signs one, then that one.
  t.is(await page.getAttribute("#checkpoint", "data-time"), "none");
  const adminToken = (await readFile(join(first.dataDir, "admin-token"), "utf8")).trim();
  const inv = await invoke<{ checkpoint: { time: number } }>(td, "inventory", undefined, {
    authorization: `Bearer ${adminToken}`,
  });
  await page.locator(`#checkpoint[data-time="${inv.checkpoint.time}"]`).waitFor({
    state: "attached",
    timeout: 30_000,
  });
  // Every member's branch from the checkpoint, none of them invalid.
  t.deepEqual(
    (
      await page.$$eval("#branches li", (ls) =>
        ls.map((l) => [l.getAttribute("data-miner"), l.getAttribute("data-invalid")]),
      )
    ).sort(),
    sorted.map((id) => [id, "0"]),
  );

  // kill -9 one member: it turns grey and the page keeps updating (a new put still arrives).
  const victim = third.id === first.id ? second : third;
  await cluster.kill(victim, "SIGKILL");
  // The directory drops it once the ring has stabilized past it.
  await page.locator(`#ring circle.node[data-id="${victim.id}"][data-state="down"]`).waitFor({
    state: "attached",
    timeout: 45_000,
  });
  // Until the ring has repaired past the dead member, a put may be placed elsewhere: put again.
  let tries = 0;
  const after = await eventually(
    async () => {
      tries++;
      const r = await putOwnedBy(td, first.id, pred, { celsius: 22 });
      return r.owner === first.id && r;
    },
    "a put after the kill placed on the page's node",
    30_000,
    500,
  );
  t.log(`puts after the kill until one was placed on its owner: ${tries}`);
  await page.waitForSelector(`#feed li[data-kind="transaction"][data-txid="${after.txID}"]`, {
    state: "attached",
    timeout: SEEN_MS,
  });
  const seenAt = Number(await page.getAttribute("#ring-panel", "data-refreshed"));
  await eventually(
    async () => Number(await page.getAttribute("#ring-panel", "data-refreshed")) > seenAt,
    "the ring redrawn after the kill",
    SEEN_MS,
  );
  // Grey in every panel that names it, not on the ring only.
  await eventually(
    async () =>
      (await page.locator(`#live-branches li[data-miner="${victim.id}"][data-live="true"]`).count()) === 0,
    "the dead member's live branch gone grey",
    SEEN_MS,
  );
  t.is(await page.getAttribute(`#branches li[data-miner="${victim.id}"]`, "class"), "down");
  t.is(await page.getAttribute(`#balances tr[data-member="${victim.id}"]`, "class"), "down");
  t.deepEqual(
    (await ringState(page))
      .filter((m) => m.state === "up")
      .map((m) => m.id)
      .sort(),
    cluster.nodes
      .filter((n) => n !== victim)
      .map((n) => n.id)
      .sort(),
  );

  const shot = await screenshotPath();
  await page.screenshot({ path: shot, fullPage: true });
  t.log(`screenshot: ${shot}`);
  t.deepEqual(errors, []);
});
