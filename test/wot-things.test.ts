// The things/ consumer scripts, each run as its own process against a live Thing.
import test from "ava";
import { execFile } from "node:child_process";
import { mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { InputError } from "../src/util/errors.js";
import { ADMIN_TOKEN, ROLE_TOKENS } from "./helpers/fake-node.js";
import { startFakeThing } from "./helpers/running-thing.js";
import { runScript } from "./helpers/spawn-script.js";

test("sensor.js streams --count readings with put over CoAP", async (t) => {
  const { node, thing } = await startFakeThing(t);
  const args = [thing.tdUrl, "--count", "3", "--interval", "0", "--source", "probe"];
  // No credential: a clear refusal before anything is sent.
  const none = runScript(t, "sensor", args, { FLOWCHAIN_CREDENTIAL: "" });
  t.is(await none.exited, 1);
  t.regex(none.stderr(), /device credential/);
  const s = runScript(t, "sensor", args, { FLOWCHAIN_CREDENTIAL: ROLE_TOKENS.device });
  t.is(await s.exited, 0, s.stderr());
  t.is(s.lines.length, 3);
  for (const l of s.lines) t.is(l.owner, node.id);
  t.is(node.records.size, 3);
  t.true([...node.records.values()].every((r) => r.source === "probe"));
});

test("watcher.js prints each block event once over CoAP and exits after --count", async (t) => {
  const { node, thing } = await startFakeThing(t);
  const w = runScript(t, "watcher", [thing.tdUrl, "--count", "3"]);
  await w.waitForLines(1);
  t.deepEqual(w.lines[0], { subscribed: "block" });
  for (let i = 1; i <= 3; i++) {
    node.mine();
    await w.waitForLines(i + 1);
  }
  t.is(await w.exited, 0, w.stderr());
  t.deepEqual(
    w.lines.slice(1).map((l) => (l.block as { height: number }).height),
    [1, 2, 3],
  );
});

test("endpoint.js approves each stored transaction", async (t) => {
  const { node, thing, href } = await startFakeThing(t);
  const e = runScript(t, "endpoint", [thing.tdUrl, "--count", "2"], {
    FLOWCHAIN_CREDENTIAL: ROLE_TOKENS.endpoint,
  });
  await e.waitForLines(1);
  const txIDs: string[] = [];
  for (let i = 0; i < 2; i++) {
    const res = await fetch(href("actions", "put", "http"), {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${ROLE_TOKENS.device}` },
      body: JSON.stringify({ value: i }),
    });
    txIDs.push(((await res.json()) as { txID: string }).txID);
  }
  t.is(await e.exited, 0, e.stderr());
  t.deepEqual(
    e.lines.slice(1).map((l) => l.approved),
    txIDs.map((txID) => ({ txID, verified: true, granted: true, miner: node.id })),
  );
});

test("admin.js runs inventory with the token and is refused without the right one", async (t) => {
  const { node, thing } = await startFakeThing(t);
  const ok = runScript(t, "admin", [thing.tdUrl, "--token", ADMIN_TOKEN]);
  t.is(await ok.exited, 0, ok.stderr());
  t.like(ok.lines[0], { inventory: { branches: [], unreachable: [] } });
  const bad = runScript(t, "admin", [thing.tdUrl], { FLOWCHAIN_ADMIN_TOKEN: "wrong" });
  t.is(await bad.exited, 1);
  t.regex(bad.stderr(), /inventory refused/);
  const none = runScript(t, "admin", [thing.tdUrl], { FLOWCHAIN_ADMIN_TOKEN: "" });
  t.is(await none.exited, 1);
  t.deepEqual(node.calls, [{ method: "inventory" }]);
});

test("watcher.js --duration ends the watch after that many seconds", async (t) => {
  const { thing } = await startFakeThing(t);
  const w = runScript(t, "watcher", [thing.tdUrl, "--duration", "1"]);
  t.is(await w.exited, 0, w.stderr());
  t.deepEqual(w.lines, [{ subscribed: "block" }]);
  const bad = runScript(t, "watcher", [thing.tdUrl, "--count", "zero"]);
  t.is(await bad.exited, 1);
  t.regex(bad.stderr(), /--count must be a positive number/);
});

test("endpoint.js skips grant records and goes on after a refused approval", async (t) => {
  const { node, thing, href } = await startFakeThing(t);
  const e = runScript(t, "endpoint", [thing.tdUrl, "--count", "1"], {
    FLOWCHAIN_CREDENTIAL: ROLE_TOKENS.endpoint,
  });
  await e.waitForLines(1);
  const put = async (body: object): Promise<string> => {
    const res = await fetch(href("actions", "put", "http"), {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${ROLE_TOKENS.device}` },
      body: JSON.stringify(body),
    });
    return ((await res.json()) as { txID: string }).txID;
  };
  const approve = node.approve.bind(node);
  // Counts every approval asked for; the first is refused.
  let asked = 0;
  node.approve = async (input) => {
    if (asked++ === 0) throw new InputError("not_verified", "not verified yet");
    return approve(input);
  };
  await put({ value: { "@type": "FlowcoinGrant" }, source: "urn:flowchain:flowcoin" });
  const refused = await put({ value: 1 });
  await e.waitForLines(2);
  const approved = await put({ value: 2 });
  t.is(await e.exited, 0, e.stderr());
  t.is(e.lines.length, 3);
  t.like(e.lines[1], { refused });
  t.like(e.lines[2], { approved: { txID: approved, verified: true } });
  // The grant was never offered for approval.
  t.is(asked, 2);
});

test("a script outside this repository imports our CoAP client as flowchain/client", async (t) => {
  const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
  const dir = await mkdtemp(join(tmpdir(), "flowchain-user-"));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await mkdir(join(dir, "node_modules"));
  await symlink(root, join(dir, "node_modules", "flowchain"), "dir");
  await writeFile(
    join(dir, "script.mjs"),
    'import { FlowchainCoapClientFactory } from "flowchain/client";\n' +
      "console.log(new FlowchainCoapClientFactory().scheme);\n",
  );
  const { stdout } = await promisify(execFile)(process.execPath, [join(dir, "script.mjs")], { cwd: dir });
  t.is(stdout.trim(), "coap");
});
