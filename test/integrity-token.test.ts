// Join tokens as a user handles them, on real processes: read from a file (never shown on the
// command line or in the printed join line), and a wrong token never damages a data directory:
// the start fails with a message naming the fix, and the next start with the right token works.
import test from "ava";
import { chmod, mkdir, readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Identity } from "../src/ledger/identity.js";
import { networkId } from "../src/ledger/genesis.js";
import { createJoinToken } from "../src/net/membership.js";
import { Cluster } from "./helpers/cluster.js";

test("a tampered or foreign token fails the start with the fix named, and leaves the directory reusable", async (t) => {
  t.timeout(60_000);
  const cluster = new Cluster();
  t.teardown(() => cluster.stop());
  const first = await cluster.start({ wot: false });
  const tokenFile = join(first.dataDir, "join-token");
  t.regex(first.output(), new RegExp(`--token-file ${tokenFile}$`, "m"));
  const token = await cluster.token(first);
  t.false(first.output().includes(token), "the first node never prints the token");

  const dir = join(await cluster.tempDir(), "node2");
  const scratch = await cluster.tempDir();
  const withFile = async (name: string, text: string) => {
    const file = join(scratch, name);
    await writeFile(file, text + "\n", { mode: 0o600 });
    return { join: first.peer, wot: false, dataDir: dir, args: ["--token-file", file] };
  };

  // The payload changed (a later issue time) under the same signature: it no longer verifies,
  // and nothing is written. A token cut short names the same fix.
  const [prefix, payload, sig] = token.split(".");
  const claims = JSON.parse(Buffer.from(payload, "base64url").toString("utf8")) as { issued: number };
  const altered = Buffer.from(JSON.stringify({ ...claims, issued: claims.issued + 1 })).toString("base64url");
  const tampered = await t.throwsAsync(
    cluster.start(await withFile("tampered", `${prefix}.${altered}.${sig}`)),
  );
  t.regex(tampered?.message ?? "", /signature does not verify.*--token-file/s);
  const cut = await t.throwsAsync(cluster.start(await withFile("cut", token.slice(0, 40))));
  t.regex(cut?.message ?? "", /invalid join token.*--token-file/s);
  await t.throwsAsync(stat(join(dir, "network.json")), { code: "ENOENT" });

  // A well-signed token of another network (someone else's admin key): the join is refused, and
  // the directory is left as it was before the start.
  const stranger = Identity.generate();
  const foreign = createJoinToken(stranger, {
    networkId: networkId({ name: "flowchain", adminPublicKey: stranger.publicKeyHex }),
    name: "flowchain",
    ttlMs: 3_600_000,
  });
  const refused = await t.throwsAsync(cluster.start(await withFile("foreign", foreign)));
  t.regex(refused?.message ?? "", /could not join.*Nothing was kept.*--token-file/s);
  await t.throwsAsync(stat(join(dir, "network.json")), { code: "ENOENT" });
  await t.throwsAsync(stat(join(dir, "ledger")), { code: "ENOENT" });

  // The right token, from its file: the same directory joins, with mode 0700.
  const second = await cluster.start({
    join: first.peer,
    wot: false,
    dataDir: dir,
    args: ["--token-file", tokenFile],
  });
  await cluster.waitForRing(token);
  t.is((await stat(dir)).mode & 0o777, 0o700);
  const cmdline = await readFile(`/proc/${second.child.pid}/cmdline`, "utf8");
  t.false(cmdline.includes(token), "the token is not in the process list");
  t.notRegex(
    second.output(),
    /open to other users|process list/,
    "no warning about the directory or the token",
  );
});

test("a data directory that other users can read gets a warning naming the fix", async (t) => {
  const cluster = new Cluster();
  t.teardown(() => cluster.stop());
  const dir = join(await cluster.tempDir(), "open");
  await mkdir(dir);
  await chmod(dir, 0o755);
  const node = await cluster.start({ dataDir: dir, wot: false });
  t.regex(node.output(), new RegExp(`open to other users \\(mode 755\\): chmod 700 ${dir}`));
});
