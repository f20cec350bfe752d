// `flowchain member remove ID` on real processes: the admin-signed revocation spreads through the
// ring, the member is cut off within 30 s (its connections closed, new ones refused), and the
// inventory no longer lists it.
import test from "ava";
import { execFile } from "node:child_process";
import { readFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { Identity } from "../src/ledger/identity.js";
import { Cluster } from "./helpers/cluster.js";
import { eventually } from "./helpers/eventually.js";

const CLI = join(dirname(fileURLToPath(import.meta.url)), "..", "src", "cli.js");
const cli = (args: string[]) => promisify(execFile)(process.execPath, [CLI, ...args], { timeout: 30_000 });

test("a member the admin removes is cut off everywhere and left out of the inventory", async (t) => {
  t.timeout(90_000);
  const cluster = new Cluster();
  t.teardown(() => cluster.stop());
  const { first, token } = await cluster.ring(3, { wot: false });
  const [victim, other] = cluster.nodes.filter((n) => n !== first);

  // A stranger cannot remove anyone: only the admin data directory holds the key that signs.
  const notAdmin = await t.throwsAsync(cli(["member", "remove", first.id, "--data", other.dataDir]));
  t.regex(String((notAdmin as { stderr?: string }).stderr), /holds no admin\.key/);

  const removed = await cli(["member", "remove", victim.id, "--data", first.dataDir]);
  t.regex(removed.stdout, new RegExp(`removed ${victim.id}`));

  // Within 30 s the two others are a ring of their own.
  await cluster.waitForRing(token, [first, other], 30_000);
  for (const n of [first, other]) {
    const kept = JSON.parse(await readFile(join(n.dataDir, "revoked.json"), "utf8")) as { member: string }[];
    t.deepEqual(
      kept.map((r) => r.member),
      [victim.id],
    );
  }

  // The removed member's key, with its valid token, is refused by every member.
  const asVictim = await cluster.client(token, { signer: await Identity.loadOrCreate(victim.dataDir) });
  for (const n of [first, other]) {
    await eventually(
      () =>
        asVictim.call({ addr: n.peer, id: n.id }, "node.ring", {}).then(
          () => false,
          () => true,
        ),
      "the removed member refused",
      30_000,
      250,
    );
  }

  // The inventory lists the two members left, and neither lists nor merges the removed one.
  const inv = await cli(["inventory", "--data", first.dataDir]);
  t.false(inv.stdout.includes(victim.id), "no block of the removed member in the merged ledger");
  t.regex(inv.stderr, /from 2 branches;.*unreachable: 0/);
});
