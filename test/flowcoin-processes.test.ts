// Flowcoin end to end across real node processes, through their Things over HTTP: approval,
// double and forged approval, balance recomputed from the ledger, and an inventory with one
// invalidated block and one node killed.
import test from "ava";
import { execFile } from "node:child_process";
import { readFile } from "node:fs/promises";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import type { RingInfo } from "../src/node/api.js";
import { authHeaders, readCredential } from "./helpers/credentials.js";
import { credentialId } from "../src/node/credentials.js";
import { Cluster, type NodeProc } from "./helpers/cluster.js";
import { eventually } from "./helpers/eventually.js";
import { chunkOwnedBy } from "./helpers/owned-chunk.js";

const CLI = join(dirname(fileURLToPath(import.meta.url)), "..", "src", "cli.js");
type Td = {
  actions: Record<string, { forms: { href: string }[] }>;
  properties: Record<string, { forms: { href: string }[] }>;
};

// A call that never answers must fail the test with its name, not stall the whole run.
const CALL_MS = 30_000;

async function answered<T>(what: string, n: NodeProc, p: Promise<T>): Promise<T> {
  try {
    return await p;
  } catch (e) {
    throw new Error(`${what} on ${n.id.slice(0, 8)}: ${String(e)}`, { cause: e });
  }
}

/** `adminDir`: the data directory of the network's first node, whose credentials the calls carry. */
async function thingOf(n: NodeProc, adminDir: string) {
  const td = (await (await fetch(n.td!, { signal: AbortSignal.timeout(CALL_MS) })).json()) as Td;
  const http = (a: { forms: { href: string }[] }) => a.forms.find((f) => f.href.startsWith("http:"))!.href;
  const invoke = async (name: string, body?: unknown, headers: Record<string, string> = {}) => {
    const res = await answered(
      name,
      n,
      fetch(http(td.actions[name]), {
        signal: AbortSignal.timeout(CALL_MS),
        method: "POST",
        headers: { "content-type": "application/json", ...(await authHeaders(adminDir, name)), ...headers },
        body: body === undefined ? undefined : JSON.stringify(body),
      }),
    );
    const text = await res.text();
    const json =
      res.headers.get("content-type")?.includes("json") && text ? (JSON.parse(text) as any) : undefined;
    return { status: res.status, body: json, text };
  };
  const read = async (name: string) =>
    (await (
      await answered(name, n, fetch(http(td.properties[name]), { signal: AbortSignal.timeout(CALL_MS) }))
    ).json()) as any;
  return { invoke, read };
}

test("approval, double and forged approval, balance from the ledger, inventory with an invalid block and a dead node", async (t) => {
  const cluster = new Cluster();
  t.teardown(async () => {
    if (!t.passed) for (const n of cluster.nodes) t.log(n.id.slice(0, 8), n.output().slice(-3000));
    await cluster.stop();
  });
  const { first: a, token } = await cluster.ring(4);
  const client = await cluster.client(token);
  const things = new Map(
    await Promise.all(cluster.nodes.map(async (n) => [n.id, await thingOf(n, a.dataDir)] as const)),
  );
  const thing = (n: NodeProc) => things.get(n.id)!;

  // The endpoint's view: put through A, approve through B.
  const put = await thing(a).invoke("put", { value: { kWh: 3.2 }, source: "urn:dev:meter-7" });
  t.is(put.status, 200, put.text);
  const owner = cluster.nodes.find((n) => n.id === put.body.owner)!;
  const [b, c] = cluster.nodes.filter((n) => n !== a);
  const first = await thing(b).invoke("approve", { txID: put.body.txID });
  t.is(first.status, 200, first.text);
  t.like(first.body, { txID: put.body.txID, verified: true, granted: true, miner: owner.id });

  const again = await thing(c).invoke("approve", { txID: put.body.txID });
  t.is(again.status, 200, again.text);
  t.like(again.body, { verified: true, granted: false });

  // Forged: a transaction that does not exist, a malformed id, and a real one of another network.
  t.is((await thing(c).invoke("approve", { txID: "ab".repeat(32) })).status, 404);
  t.is((await thing(c).invoke("approve", { txID: "not-hex" })).status, 400);
  const other = await cluster.start();
  const foreign = await (
    await thingOf(other, other.dataDir)
  ).invoke("put", { value: 1, source: "elsewhere" });
  const refused = await thing(c).invoke("approve", { txID: foreign.body.txID });
  t.is(refused.status, 404, refused.text);
  await cluster.kill(other);

  // The balance is recomputed from grant records, and the ledger agrees with the property.
  t.is(await thing(owner).read("balance"), 1);
  const grants = await thing(a).invoke("query", {
    from: 0,
    to: Date.now() + 60_000,
    source: "urn:flowchain:flowcoin",
    limit: 100,
  });
  t.is(grants.status, 200, grants.text);
  t.is(
    grants.body.records.filter((g: any) => g.value.to === owner.id && g.value.txID === put.body.txID).length,
    1,
  );
  t.is(grants.body.records.length, 1);
  // The grant names the endpoint credential that approved it (its fingerprint and subject).
  t.deepEqual(grants.body.records[0].value.approvedBy, {
    credential: credentialId(await readCredential(a.dataDir, "endpoint")),
    subject: "endpoint",
  });
  // A member that sends a grant of its own making straight to the peer protocol is refused by
  // every node: by the key's owner because no such approved transaction exists.
  const forged = {
    source: "urn:flowchain:flowcoin",
    timestamp: put.body.timestamp ?? Date.now(),
    value: { "@type": "FlowcoinGrant", to: a.id, txID: "cd".repeat(32), amount: 1 },
  };
  const refusals = await Promise.all(
    cluster.nodes
      .filter((n) => n !== other)
      .map((n) =>
        client.call({ addr: n.peer }, "store.put", forged).then(
          () => "stored",
          (e: Error & { code?: string }) => e.code,
        ),
      ),
  );
  t.false(refusals.includes("stored"), refusals.join());
  t.true(refusals.includes("not_found") || refusals.includes("forged_grant"), refusals.join());
  t.is(await thing(a).read("balance"), a.id === owner.id ? 1 : 0);
  // Nobody mints coins by writing to the Flowcoin source.
  t.is((await thing(a).invoke("put", { value: { to: a.id }, source: "urn:flowchain:flowcoin" })).status, 400);

  // Inventory: one block invalidated on a live node, one node killed.
  const live = cluster.nodes.filter((n) => n !== other && n !== a);
  const invalidOn = live[0];
  const dead = live[1];
  await eventually(
    async () => ((await thing(invalidOn).read("chain")).validBlock ? true : undefined),
    "a valid block",
  );
  // A transaction recorded by the node about to die, approved while it is down: the record comes
  // from a replica and the block from the copy of its branch that a successor keeps.
  const ids = cluster.nodes.filter((n) => n !== other).map((n) => n.id);
  const { source, timestamp, value } = chunkOwnedBy(ids, dead.id, (ts) => ({
    source: "urn:dev:orphan",
    value: { ts },
  }));
  const landed = await thing(a).invoke("put", { value, source, timestamp });
  t.is(landed.status, 200, landed.text);
  t.is(landed.body.owner, dead.id);
  const orphan = landed.body as { txID: string; owner: string; block: string };
  // Its branch copy must hold the block the record is in, which is mined after the record lands.
  await eventually(async () => {
    const copies = await Promise.all(
      live
        .filter((n) => n !== dead)
        .map((n) => client.call({ addr: n.peer }, "ledger.copy", { miner: dead.id }) as Promise<any>),
    );
    return copies.some((c) => c?.blocks?.some((b: any) => b.hash === orphan.block)) || undefined;
  }, "a copy of the dead node's block");
  t.is((await thing(invalidOn).invoke("report", { battery: 2 })).status, 400);
  t.is((await thing(invalidOn).invoke("report", { condition: "bored" })).status, 400);
  const reported = await thing(invalidOn).invoke("report", {
    battery: 0.12,
    condition: "low_battery",
    detail: "12%",
  });
  t.is(reported.status, 200, reported.text);
  t.regex(String(reported.body.invalidated), /^[0-9a-f]{64}$/);
  t.true(reported.body.reliability < 0.7, "a low battery lowers reliability");
  await cluster.kill(dead);
  await eventually(
    async () => {
      const r = (await client.call({ addr: a.peer }, "node.ring", {})) as RingInfo;
      return !r.successors.some((s) => s.id === dead.id) && r.predecessor?.id !== dead.id;
    },
    "the ring to drop the dead node",
    60_000,
    250,
  );

  const late = await thing(c === dead ? b : c).invoke("approve", { txID: orphan.txID });
  t.is(late.status, 200, late.text);
  t.like(late.body, { verified: true, granted: true, miner: dead.id });

  const adminToken = (await readFile(join(a.dataDir, "admin-token"), "utf8")).trim();
  t.is((await thing(a).invoke("inventory", undefined, { authorization: "" })).status, 401);
  // A valid credential of another role is refused as such (403), an endpoint's included.
  const endpoint = await readCredential(a.dataDir, "endpoint");
  t.is((await thing(a).invoke("inventory", undefined, { authorization: `Bearer ${endpoint}` })).status, 403);
  t.is(
    (await thing(a).invoke("inventory", undefined, { authorization: "Bearer fca1.forged.token" })).status,
    401,
  );
  const inv = await thing(a).invoke("inventory", undefined, { authorization: `Bearer ${adminToken}` });
  t.is(inv.status, 200, inv.text);
  // The audit: both grants paid on the endpoint credential's approval, each to its miner.
  const audit = (inv.body.approvals as any[]).find((r) => r.subject === "endpoint");
  t.like(audit, { credential: credentialId(endpoint), grants: 2 });
  // The two paid miners may be one node (the owner of the first put may be the one killed).
  t.deepEqual(audit.to.map((x: any) => x.miner).sort(), [...new Set([owner.id, dead.id])].sort());
  t.true(
    inv.body.invalidBlocks.some((i: any) => i.hash === reported.body.invalidated && i.miner === invalidOn.id),
    inv.text,
  );
  t.true(inv.body.unreachable.includes(dead.id), inv.text);
  t.true(
    inv.body.branches.some((br: any) => br.miner === dead.id),
    "the dead node's branch stands in from its successors' copies",
  );

  // The CLI's inventory writes a merged ledger that verify checks offline.
  const out = join(a.dataDir, "merged.ndjson");
  const run = promisify(execFile);
  await run(process.execPath, [CLI, "inventory", "--data", a.dataDir, "--out", out], {
    timeout: 2 * CALL_MS,
  });
  const verified = await run(process.execPath, [CLI, "verify", "--file", out], { timeout: CALL_MS });
  t.regex(verified.stdout, /^ok: merged ledger/);
});
