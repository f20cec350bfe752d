// Join tokens expire, on real processes: `flowchain token create` writes one to a 0600 file and
// prints the line that joins with it (never the token); an expired one is refused at the start and
// at the handshake with the fix named, leaving node and directory unharmed; a fresh one joins; and
// a member outlives the token it joined with (it keeps the membership token instead).
import test from "ava";
import { execFile, spawn } from "node:child_process";
import { readFile, stat } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { Cluster, type NodeProc } from "./helpers/cluster.js";
import { eventually } from "./helpers/eventually.js";

const CLI = join(dirname(fileURLToPath(import.meta.url)), "..", "src", "cli.js");
const cli = (args: string[], cwd?: string) =>
  promisify(execFile)(process.execPath, [CLI, ...args], { timeout: 30_000, cwd });

/** Waits until `flowchain token list` calls the token `id` expired (the test's clock, no sleep). */
async function untilExpired(dataDir: string, id: string): Promise<void> {
  await eventually(
    async () =>
      new RegExp(`^${id} .* expired `, "m").test((await cli(["token", "list", "--data", dataDir])).stdout),
    `token ${id} to expire`,
    60_000,
    250,
  );
}

test("an expired join token is refused with the fix named; a fresh one joins; the member outlives it", async (t) => {
  t.timeout(600_000);
  const cluster = new Cluster();
  t.teardown(() => cluster.stop());
  const first = await cluster.start({ wot: false });
  const token = await cluster.token(first);
  t.regex(first.output(), /^expires\s+\d{4}-\d\d-\d\dT.*token create --data /m);
  const scratch = await cluster.tempDir();

  // A token that lasts a second: written 0600, listed, its text on no output.
  const shortFile = join(scratch, "short-token");
  const made = await cli(["token", "create", "--ttl", "1s", "--data", first.dataDir, "--out", shortFile]);
  const short = (await readFile(shortFile, "utf8")).trim();
  t.regex(short, /^fc2\./);
  t.is((await stat(shortFile)).mode & 0o777, 0o600);
  const id = /^token\s+([0-9a-f]{16}) written to (\S+) \(mode 0600\)$/m.exec(made.stdout);
  t.is(id?.[2], shortFile);
  t.regex(
    made.stdout,
    new RegExp(`^join\\s+.* start .*--join ${first.peer} --token-file ${shortFile}$`, "m"),
  );
  t.false(made.stdout.includes(short) || made.stderr.includes(short), "the token is never printed");
  await untilExpired(first.dataDir, id![1]);

  // A start with it fails before writing anything, naming `flowchain token create`.
  const dir = join(scratch, "node2");
  const late = await t.throwsAsync(
    cluster.start({ join: first.peer, wot: false, dataDir: dir, args: ["--token-file", shortFile] }),
  );
  t.regex(late?.message ?? "", /join token has expired.*flowchain token create --data DATA.*--token-file/s);
  await t.throwsAsync(stat(join(dir, "network.json")), { code: "ENOENT" });
  await t.throwsAsync(stat(join(dir, "membership-token")), { code: "ENOENT" });

  // The running node refuses it at the handshake too, by name, and goes on serving members.
  const stranger = await cluster.client(short);
  const refused = await t.throwsAsync(stranger.call({ addr: first.peer, id: first.id }, "node.ring", {}));
  t.is((refused as { code?: string }).code, "expired_join_token");
  const member = await cluster.client(token);
  const ring = (await member.call({ addr: first.peer, id: first.id }, "node.ring", {})) as { id: string };
  t.is(ring.id, first.id);
  t.is(first.child.exitCode, null);

  // A fresh token: the line it prints, run as printed from another directory, joins; so does the
  // data directory the expired token left untouched.
  const freshFile = join(scratch, "fresh-token");
  const elsewhere = await cluster.tempDir();
  const fresh = await cli(["token", "create", "--data", first.dataDir, "--out", freshFile], elsewhere);
  const freshId = /^token\s+(\S+)/m.exec(fresh.stdout)![1];
  const line = /^join\s+(.+)$/m.exec(fresh.stdout)![1];
  const second = await runPrinted(t, line, elsewhere);
  t.is(second.dataDir, join(elsewhere, "node2"));
  // The untouched directory joins with a token short enough to see expire: a start that takes
  // longer than the token lasts (a loaded machine) is refused as expired and leaves the directory
  // as it was, so it tries again with a longer one.
  const thirdFile = join(scratch, "third-token");
  let third: NodeProc | undefined;
  let thirdId = "";
  for (const ttl of ["20s", "60s", "180s", "600s"]) {
    const made = await cli(["token", "create", "--ttl", ttl, "--data", first.dataDir, "--out", thirdFile]);
    thirdId = /^token\s+(\S+)/m.exec(made.stdout)![1];
    try {
      third = await cluster.start({
        join: first.peer,
        wot: false,
        dataDir: dir,
        args: ["--token-file", thirdFile],
      });
      break;
    } catch (err) {
      t.regex(String(err), /join token has expired/);
      await t.throwsAsync(stat(join(dir, "network.json")), { code: "ENOENT" });
    }
  }
  if (!third) return t.fail("no join token lasted long enough to join");
  await cluster.waitForRing(token, [first, second, third]);
  const membership = (await readFile(join(first.dataDir, "membership-token"), "utf8")).trim();
  for (const d of [second.dataDir, dir]) {
    t.is(
      (await readFile(join(d, "membership-token"), "utf8")).trim(),
      membership,
      "it keeps the membership token",
    );
  }

  const list = (await cli(["token", "list", "--data", first.dataDir])).stdout;
  t.regex(list, new RegExp(`^${freshId}  \\S+  \\S+  valid {4}${freshFile}$`, "m"));
  t.regex(list, new RegExp(`^${id![1]}  .*  expired  ${shortFile}$`, "m"));
  t.notRegex(list, /fc[12]\./, "no token text in the list");

  // Its join token expires; the member restarts and is let in on its membership token.
  await untilExpired(first.dataDir, thirdId);
  await cluster.kill(third, "SIGTERM");
  const again = await cluster.restart(third);
  t.is(again.id, third.id);
  await cluster.waitForRing(token, [first, second, again]);
});

/** Runs a printed command line in `cwd` until it says ready; stopped at the test's end. */
async function runPrinted(
  t: { teardown(fn: () => void): void },
  line: string,
  cwd: string,
): Promise<NodeProc> {
  const child = spawn("sh", ["-c", `exec ${line}`], { cwd, stdio: ["ignore", "pipe", "pipe"] });
  t.teardown(() => child.kill("SIGKILL"));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  let out = "";
  let err = "";
  child.stderr!.setEncoding("utf8").on("data", (d: string) => (err += d));
  await new Promise<void>((resolve, reject) => {
    child.stdout!.setEncoding("utf8").on("data", (d: string) => {
      out += d;
      if (/^ready$/m.test(out)) resolve();
    });
    void exited.then((code) => reject(new Error(`exited ${code} before ready:\n${out}\n${err}`)));
  });
  const field = (name: string) => new RegExp(`^${name}\\s+(\\S+)`, "m").exec(out)![1];
  return {
    dataDir: field("data"),
    id: field("node"),
    peer: field("peer"),
    child,
    exited,
    output: () => out + err,
  };
}

test("token create and list refuse bad input with the usage, and a directory without the admin key", async (t) => {
  const cluster = new Cluster();
  t.teardown(() => cluster.stop());
  const dir = await cluster.tempDir();
  for (const args of [
    ["token", "create", "--ttl", "5x", "--data", dir],
    ["token", "create", "--ttl", "0s", "--data", dir],
    ["token", "create", "--ttl", "400d", "--data", dir],
    ["token", "create", "--data", dir, "--ttl"],
    ["token", "rotate", "--data", dir],
    ["token"],
  ]) {
    const err = (await t.throwsAsync(cli(args))) as { code?: number; stderr?: string };
    t.is(err.code, 2, args.join(" "));
    t.regex(err.stderr ?? "", /Usage:\n.*flowchain token create \[--ttl 24h\]/s, args.join(" "));
  }
  const ttl = (await t.throwsAsync(cli(["token", "create", "--ttl", "5x", "--data", dir]))) as {
    stderr?: string;
  };
  t.regex(ttl.stderr ?? "", /--ttl must be a whole number and a unit, s, m, h or d .*got '5x'/);
  for (const action of ["create", "list"]) {
    const err = (await t.throwsAsync(cli(["token", action, "--data", dir]))) as {
      code?: number;
      stderr?: string;
    };
    t.is(err.code, 1);
    t.regex(err.stderr ?? "", /holds no admin\.key: run this with --data of the network's first node/);
  }
});

test("once the first node's join token has expired, its start prints the command that makes a new one", async (t) => {
  t.timeout(120_000);
  const cluster = new Cluster();
  t.teardown(() => cluster.stop());
  const first = await cluster.start({ wot: false });
  const tokenFile = join(first.dataDir, "join-token");
  const made = await cli(["token", "create", "--ttl", "1s", "--data", first.dataDir]);
  t.regex(
    made.stdout,
    new RegExp(`written to ${tokenFile} \\(mode 0600\\)`),
    "the default --out is DATA/join-token",
  );
  await untilExpired(first.dataDir, /^token\s+(\S+)/m.exec(made.stdout)![1]);
  await cluster.kill(first, "SIGTERM");
  const again = await cluster.restart(first);
  const line = /^join\s+the join token has expired: (.+)$/m.exec(again.output());
  t.truthy(line, again.output());
  t.notRegex(again.output(), /--token-file/, "no join line pointing at an expired token");
  // The printed command, run as printed (from the directory the node was started in).
  const out = await promisify(execFile)("sh", ["-c", line![1]], { timeout: 60_000 });
  t.regex(out.stdout, new RegExp(`^join\\s+.*--token-file ${tokenFile}$`, "m"));
});
