// The `flowchain` command as users run it: a node that starts with embedded defaults, shuts down
// cleanly on SIGTERM without invalidating its block, verify and export of its data directory, and
// clear errors for bad options.
import test from "ava";
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import type { RingInfo } from "../src/node/api.js";
import { Cluster } from "./helpers/cluster.js";
import { eventually } from "./helpers/eventually.js";

const CLI = join(dirname(fileURLToPath(import.meta.url)), "..", "src", "cli.js");
const run = (args: string[], env: Record<string, string> = {}) =>
  promisify(execFile)(process.execPath, [CLI, ...args], { env: { ...process.env, ...env } }).then(
    (r) => ({ code: 0, ...r }),
    (e: { code: number; stdout: string; stderr: string }) => ({
      code: e.code,
      stdout: e.stdout,
      stderr: e.stderr,
    }),
  );

async function chainOf(tdUrl: string) {
  const td = (await (await fetch(tdUrl)).json()) as { properties: { chain: { forms: { href: string }[] } } };
  const href = td.properties.chain.forms.find((f) => f.href.startsWith("http:"))!.href;
  return (await (await fetch(href)).json()) as {
    height: number;
    validBlock: string | null;
    recordsUnsealed: number;
  };
}

test("SIGTERM shuts a node down cleanly: exit 0, its valid block survives the restart, and verify passes", async (t) => {
  const cluster = new Cluster();
  t.teardown(() => cluster.stop());
  const node = await cluster.start();
  // The join line names the token's file, never the token itself.
  t.regex(node.output(), /^join\s+(npx flowchain|node \S+) start .*--join \S+ --token-file \S+join-token$/m);
  t.notRegex(node.output(), /fcc?1\./);
  // The printed put line works as printed (a shell reads the credential from its file).
  const putLine = /^put\s+(curl .*)$/m.exec(node.output())?.[1];
  if (putLine === undefined) return t.fail(`no put line in:\n${node.output()}`);
  const { stdout } = await promisify(execFile)("bash", ["-c", `${putLine} --silent --show-error`]);
  t.like(JSON.parse(stdout) as object, { owner: node.id });
  const before = await eventually(async () => {
    const c = await chainOf(node.td!);
    return c.validBlock !== null && c.recordsUnsealed === 0 && c.height >= 2 ? c : undefined;
  }, "a block sealing the record");
  t.is(await cluster.kill(node, "SIGTERM"), 0);

  const verified = await run(["verify", "--data", node.dataDir]);
  t.is(verified.code, 0, verified.stdout + verified.stderr);
  t.regex(verified.stdout, /^ok: \d+ blocks, \d+ records verified/);

  const again = await cluster.start({ dataDir: node.dataDir });
  t.is(again.id, node.id);
  const after = await chainOf(again.td!);
  t.is(after.validBlock, before.validBlock, "a clean shutdown invalidates nothing");
});

test("export writes NDJSON that verify --file accepts, and one flipped field is found", async (t) => {
  const cluster = new Cluster();
  t.teardown(() => cluster.stop());
  const node = await cluster.start({ wot: false });
  const client = await cluster.client(await cluster.token(node));
  for (let i = 0; i < 20; i++)
    await client.call({ addr: node.peer }, "node.put", { value: { i }, source: "s" });
  await cluster.kill(node, "SIGINT");
  const exported = await run(["export", "--data", node.dataDir]);
  t.is(exported.code, 0, exported.stderr);
  const file = join(node.dataDir, "export.ndjson");
  await writeFile(file, exported.stdout);
  t.is((await run(["verify", "--file", file])).code, 0);

  const lines = exported.stdout.trim().split("\n");
  const i = lines.findIndex((l) => l.includes('"@type":"Transaction"'));
  lines[i] = lines[i].replace(/"i":(\d+)/, (_m, n: string) => `"i":${Number(n) + 1}`);
  await writeFile(file, lines.join("\n") + "\n");
  const bad = await run(["verify", "--file", file]);
  t.is(bad.code, 1);
  t.regex(bad.stdout, /^FAILED at height \d+: /);
});

test("the original README's environment variables start and join a node", async (t) => {
  const cluster = new Cluster();
  t.teardown(() => cluster.stop());
  const first = await cluster.start({ wot: false });
  const token = await cluster.token(first);
  const [host, port] = first.peer.split(":");
  const second = await cluster.start({
    wot: false,
    env: { PEER_ADDR: host, PEER_PORT: port, FLOWCHAIN_TOKEN: token },
  });
  const client = await cluster.client(token);
  await eventually(async () => {
    const r = (await client.call({ addr: second.peer }, "node.ring", {})) as RingInfo;
    return r.successors[0]?.id === first.id;
  }, "the second node to join through PEER_ADDR/PEER_PORT");
  t.pass();
});

test("bad options get a clear error and a non-zero exit", async (t) => {
  const badLevel = await run(["start", "--log-level", "loud"]);
  t.is(badLevel.code, 2);
  t.regex(badLevel.stderr, /--log-level must be one of/);
  const badPort = await run(["start", "--port", "70000"]);
  t.is(badPort.code, 2);
  t.regex(badPort.stderr, /--port must be a port number/);
  const unknown = await run(["frobnicate"]);
  t.is(unknown.code, 2);
  t.regex(unknown.stderr, /unknown command 'frobnicate'/);
  const noData = await run(["verify"]);
  t.is(noData.code, 2);
  t.regex(noData.stderr, /verify needs --data DIR or --file FILE/);
  const cluster = new Cluster();
  t.teardown(() => cluster.stop());
  const joinWithoutToken = await run(["start", "--data", await cluster.tempDir(), "--join", "127.0.0.1:1"]);
  t.not(joinWithoutToken.code, 0);
  t.regex(joinWithoutToken.stderr, /--join needs a join token: --token-file/);
});

test("the printed join line starts a second node as printed, on one machine, in an IPv6-only ring", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "flowchain-join-"));
  const children: ChildProcess[] = [];
  t.teardown(async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
    await rm(dir, { recursive: true, force: true });
  });
  // Resolves with the output up to "ready"; a child that exits first fails the test.
  const ready = (child: ChildProcess) =>
    new Promise<string>((resolve, reject) => {
      let out = "";
      let err = "";
      child.stdout!.on("data", (d: Buffer) => {
        out += d.toString();
        if (/^ready$/m.test(out)) resolve(out);
      });
      child.stderr!.on("data", (d: Buffer) => (err += d.toString()));
      child.on("exit", (code) => reject(new Error(`exited ${code} before ready:\n${out}\n${err}`)));
    });
  // A directory named node2 already exists there: the line must name a fresh one.
  await mkdir(join(dir, "node2"));
  const first = spawn(
    process.execPath,
    [CLI, "start", "--data", join(dir, "a"), "--host", "::1", "--port", "0"].concat([
      "--http-port",
      "0",
      "--coap-port",
      "0",
      "--ws-port",
      "0",
    ]),
    { cwd: dir },
  );
  children.push(first);
  const out = await ready(first);
  const line = /^join\s+(.+)$/m.exec(out)![1]!;
  t.regex(line, /--join \[::1\]:\d+/);
  t.regex(line, /--data \.\/node3 /);
  t.notRegex(line, /fc[12]\./, "the token is read from its file, not printed or put on a process list");
  const second = spawn("sh", ["-c", `exec ${line}`], { cwd: dir });
  children.push(second);
  const out2 = await ready(second);
  const secondId = /^node\s+(\S+)/m.exec(out2)![1]!;
  const tdUrl = /^td\s+(\S+)/m.exec(out)![1]!;
  t.regex(tdUrl, /^http:\/\/\[::1\]:/);
  const td = (await (await fetch(tdUrl)).json()) as { properties: { ring: { forms: { href: string }[] } } };
  const ringHref = td.properties.ring.forms.find((f) => f.href.startsWith("http:"))!.href;
  await eventually(async () => {
    const ring = (await (await fetch(ringHref)).json()) as RingInfo;
    return ring.successors[0]?.id === secondId;
  }, "the node started by the printed line to join over IPv6");
  t.pass();
});
