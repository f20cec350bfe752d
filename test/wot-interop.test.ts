// A ring of real node processes met with tools nobody here wrote: the Thingweb Playground validator
// and jsonld with a loader that knows only the W3C contexts and fetches everything else from the
// node over HTTP; stock node-wot 0.9.2 (core + binding-http) exploring the node as a WoT Thing
// Description Directory.
import test from "ava";
import { execFile } from "node:child_process";
import { readFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import jsonld from "jsonld";
import wotCore from "@node-wot/core";
import bindingHttp from "@node-wot/binding-http";
import { Cluster, type NodeProc } from "./helpers/cluster.js";
import { authHeaders, readCredential } from "./helpers/credentials.js";
import { eventually } from "./helpers/eventually.js";
import { playgroundValidate, webDocumentLoader } from "./helpers/td-validation.js";

const { Servient } = wotCore;
const { HttpClientFactory } = bindingHttp;
const CLI = join(dirname(fileURLToPath(import.meta.url)), "..", "src", "cli.js");
const FC = "https://flowchain.io/ns/ledger#";
const CALL_MS = 30_000;

type Td = Record<string, unknown> & {
  id: string;
  actions: Record<string, { forms: { href: string }[] }>;
  links?: { href: string; rel?: string }[];
};

const cluster = new Cluster();
let nodes: NodeProc[] = [];

test.before(async () => {
  await cluster.ring(3);
  nodes = cluster.nodes;
});
test.after.always(() => cluster.stop());

async function getJson<T>(url: string, headers: Record<string, string> = {}) {
  const res = await fetch(url, { headers, signal: AbortSignal.timeout(CALL_MS) });
  return { res, body: (await res.json()) as T };
}

const httpForm = (td: Td, action: string) =>
  td.actions[action]!.forms.find((f) => f.href.startsWith("http:"))!.href;

/** POSTs with the credential the action needs (the first node's files) unless `headers` names one. */
async function invoke(href: string, body: unknown, headers: Record<string, string> = {}) {
  const action = /\/actions\/([^/]+)$/.exec(new URL(href).pathname)?.[1] ?? "";
  const res = await fetch(href, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      ...(await authHeaders(nodes[0]!.dataDir, action)),
      ...headers,
    },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(CALL_MS),
  });
  return (await res.json()) as Record<string, unknown>;
}

/** Expands `doc` as read from `base`; returns the expanded nodes and every URL the loader fetched. */
async function expand(doc: unknown, base: string) {
  const fetched: string[] = [];
  const expanded = (await jsonld.expand(doc as jsonld.JsonLdDocument, {
    base,
    documentLoader: webDocumentLoader(fetched) as never,
  })) as Record<string, unknown>[];
  return { expanded, fetched };
}

test.serial(
  "the TD and the directory TD pass the Playground validator, JSON-LD included, with only W3C contexts known",
  async (t) => {
    const node = nodes[0]!;
    const origin = new URL(node.td!).origin;
    const { body: td } = await getJson<Td>(node.td!);
    const dirLink = td.links?.find((l) => l.rel === "service-desc");
    t.truthy(dirLink, "the node's TD links to its directory's TD");
    const { body: dirTd } = await getJson<Td>(dirLink!.href);
    for (const doc of [td, dirTd]) {
      const fetched: string[] = [];
      const { report, log } = await playgroundValidate(doc, webDocumentLoader(fetched));
      t.is(report.jsonld, "passed", log.join("\n"));
      t.false(Object.values(report).includes("failed"), log.join("\n"));
      // Every context not the W3C's came from the node itself (none do today: they are inlined).
      t.true(
        fetched.every((u) => u.startsWith(`${origin}/`)),
        fetched.join(" "),
      );
    }
  },
);

test.serial(
  "records and checkpoints expand as JSON-LD with their context fetched from the node",
  async (t) => {
    const node = nodes[0]!;
    const origin = new URL(node.td!).origin;
    const { body: td } = await getJson<Td>(node.td!);
    const put = await invoke(httpForm(td, "put"), { value: { celsius: 21.5 }, source: "urn:dev:probe" });
    const getHref = httpForm(td, "get");
    const record = await eventually(async () => {
      const r = await invoke(getHref, { key: put.key });
      return r.txID === undefined ? undefined : r;
    }, "the record readable");
    const { expanded, fetched } = await expand(record, getHref);
    t.deepEqual(expanded[0]!["@type"], [`${FC}Transaction`]);
    t.deepEqual(expanded[0]![`${FC}txID`], [{ "@value": record.txID }]);
    t.deepEqual(fetched, [`${origin}/contexts/ledger-v1.jsonld`]);

    const admin = (await readFile(join(node.dataDir, "admin-token"), "utf8")).trim();
    const inventoryHref = httpForm(td, "inventory");
    const inventory = await invoke(inventoryHref, undefined, { authorization: `Bearer ${admin}` });
    const checkpoint = await expand(inventory.checkpoint, inventoryHref);
    t.deepEqual(checkpoint.expanded[0]!["@type"], [`${FC}Checkpoint`]);
    t.deepEqual(checkpoint.fetched, [`${origin}/contexts/ledger-v1.jsonld`]);
  },
);

test.serial("stock node-wot exploreDirectory() lists every ring member from any node", async (t) => {
  const servient = new Servient();
  servient.addClientFactory(new HttpClientFactory());
  const wot = await servient.start();
  t.teardown(() => servient.shutdown());
  const ids = await Promise.all(nodes.map(async (n) => (await getJson<Td>(n.td!)).body.id));
  for (const n of nodes) {
    const { body: td } = await getJson<Td>(n.td!);
    const dirUrl = td.links!.find((l) => l.rel === "service-desc")!.href;
    // Membership converges in the background: the listing settles on the whole ring.
    const listed = await eventually(async () => {
      const found: string[] = [];
      for await (const thing of await wot.exploreDirectory(dirUrl)) found.push(String(thing.id));
      return found.length === ids.length ? found : undefined;
    }, "every member listed");
    t.deepEqual([...listed].sort(), [...ids].sort());
    // retrieveThing: GET /things/{id} is that member's TD.
    const other = ids.find((id) => id !== td.id)!;
    const { res, body } = await getJson<Td>(`${new URL(dirUrl).origin}/things/${encodeURIComponent(other)}`);
    t.is(res.headers.get("content-type"), "application/td+json");
    t.is(body.id, other);
  }
});

test.serial(
  "a stock consumer on the default event form hears every transaction of concurrent puts",
  async (t) => {
    const servient = new Servient();
    servient.addClientFactory(new HttpClientFactory());
    // The TD's Thing-level bearer scheme: node-wot sends a credential on every request (reads and
    // subscriptions are open, so any role's does).
    const device = await readCredential(nodes[0]!.dataDir, "device");
    for (const n of nodes) servient.addCredentials({ [`urn:flowchain:node:${n.id}`]: { token: device } });
    const wot = await servient.start();
    t.teardown(() => servient.shutdown());
    const heard = new Set<string>();
    const failures: string[] = [];
    for (const n of nodes) {
      const consumed = await wot.consume((await getJson<Td>(n.td!)).body as unknown as WoT.ThingDescription);
      const sub = await consumed.subscribeEvent("transaction", async (data) => {
        try {
          heard.add(String(((await data.value()) as { txID: string }).txID));
        } catch (err) {
          failures.push(String(err));
        }
      });
      t.teardown(() => sub.stop().catch(() => undefined));
    }
    const { body: td } = await getJson<Td>(nodes[0]!.td!);
    const put = httpForm(td, "put");
    const txIDs: string[] = [];
    // 120 puts, 30 at a time: the case where the long-poll default heard 1 event in 18.
    for (let round = 0; round < 4; round++) {
      const answers = await Promise.all(
        Array.from({ length: 30 }, (_, i) => invoke(put, { value: { round, i }, source: "urn:dev:burst" })),
      );
      txIDs.push(...answers.map((a) => String(a.txID)));
    }
    await eventually(
      async () => txIDs.every((id) => heard.has(id)) || failures.length > 0,
      "every txID heard",
    );
    t.deepEqual(failures, []);
    t.deepEqual(
      txIDs.filter((id) => !heard.has(id)),
      [],
    );
  },
);

test.serial(
  "the directory API: headers, paging, code-point order, clamping, problem details, CORS",
  async (t) => {
    const origin = new URL(nodes[0]!.td!).origin;
    const { res, body: all } = await getJson<Td[]>(`${origin}/things?limit=100000`);
    t.is(res.status, 200, "a limit above the maximum is served, not refused");
    t.is(res.headers.get("content-type"), "application/ld+json");
    const ids = all.map((td) => td.id);
    const byCodePoint = [...ids].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
    t.deepEqual(ids, byCodePoint);
    const canonical = /<\/things>;\s*rel="canonical";\s*etag="([^"]+)"/.exec(res.headers.get("link") ?? "");
    t.truthy(canonical, res.headers.get("link") ?? "no Link");

    const first = await getJson<Td[]>(`${origin}/things?limit=1`);
    t.is(first.body.length, 1);
    const next = /<([^>]+)>;\s*rel="next"/.exec(first.res.headers.get("link") ?? "");
    t.truthy(next);
    const second = await getJson<Td[]>(new URL(next![1]!, origin).href);
    t.is(second.body[0]!.id, ids[1]);
    t.regex(second.res.headers.get("link") ?? "", new RegExp(`etag="${canonical![1]}"`));

    for (const [path, status] of [
      ["/things?offset=-1", 400],
      ["/things?limit=0", 400],
      ["/events?diff=true", 400],
      ["/events/thing_renamed", 404],
      [`/things/${encodeURIComponent("urn:flowchain:node:nobody")}`, 404],
    ] as const) {
      const r = await fetch(`${origin}${path}`, { signal: AbortSignal.timeout(CALL_MS) });
      t.is(r.status, status, path);
      t.is(r.headers.get("content-type"), "application/problem+json", path);
      t.like(await r.json(), { status, type: "about:blank" });
    }
    for (const path of ["/.well-known/wot", "/directory", "/things", "/contexts/ledger-v1.jsonld"]) {
      const r = await fetch(`${origin}${path}`, {
        headers: { origin: "https://app.example" },
        signal: AbortSignal.timeout(CALL_MS),
      });
      t.is(r.headers.get("access-control-allow-origin"), "*", path);
      const pre = await fetch(`${origin}${path}`, {
        method: "OPTIONS",
        headers: { origin: "https://app.example", "access-control-request-method": "GET" },
        signal: AbortSignal.timeout(CALL_MS),
      });
      t.is(pre.status, 204, path);
      t.regex(pre.headers.get("access-control-allow-methods") ?? "", /GET/, path);
    }
  },
);

test.serial(
  "the directory's notifications: thing_created when a member joins, thing_deleted when it goes",
  async (t) => {
    const origin = new URL(nodes[0]!.td!).origin;
    const ac = new AbortController();
    t.teardown(() => ac.abort());
    const res = await fetch(`${origin}/events`, {
      headers: { accept: "text/event-stream" },
      signal: ac.signal,
    });
    t.is(res.headers.get("content-type"), "text/event-stream");
    const reader = res.body!.getReader();
    let text = "";
    const until = async (re: RegExp) => {
      const deadline = AbortSignal.timeout(90_000);
      while (!re.test(text)) {
        if (deadline.aborted) throw new Error(`no ${re} in:\n${text}`);
        const { value, done } = await reader.read();
        if (done) throw new Error(`stream ended before ${re}:\n${text}`);
        text += Buffer.from(value).toString("utf8");
      }
    };
    const token = await cluster.token(nodes[0]!);
    const joined = await cluster.start({ join: nodes[0]!.peer, token });
    const id = `urn:flowchain:node:${joined.id}`;
    await until(new RegExp(`event: thing_created\nid: \\S+\ndata: \\{"id":"${id}"\\}`));
    await cluster.kill(joined, "SIGKILL");
    await until(new RegExp(`event: thing_deleted\nid: \\S+\ndata: \\{"id":"${id}"\\}`));
    t.pass();
  },
);

test.serial("an export's blocks and records expand with the context any node serves", async (t) => {
  const stopped = nodes[2]!;
  const origin = new URL(nodes[0]!.td!).origin;
  // LevelDB holds a lock while the node runs.
  await cluster.kill(stopped, "SIGTERM");
  const { stdout } = await promisify(execFile)(process.execPath, [CLI, "export", "--data", stopped.dataDir], {
    maxBuffer: 64 * 1024 * 1024,
  });
  const lines = stdout.split("\n").filter((l) => l.trim() !== "");
  t.true(lines.length > 0);
  const types = new Set<string>();
  for (const line of lines.slice(0, 40)) {
    const { expanded, fetched } = await expand(JSON.parse(line), `${origin}/`);
    for (const type of (expanded[0]!["@type"] ?? []) as string[]) types.add(type);
    t.deepEqual(fetched, [`${origin}/contexts/ledger-v1.jsonld`]);
  }
  t.true(types.has(`${FC}Block`), [...types].join(" "));
});

test.serial(
  "stock node-wot given a credential through addCredentials puts, approves and runs inventory over HTTP",
  async (t) => {
    const adminDir = nodes[0]!.dataDir;
    const consumerWith = async (role: "device" | "endpoint" | "admin" | undefined, node = nodes[1]!) => {
      const servient = new Servient();
      servient.addClientFactory(new HttpClientFactory());
      if (role !== undefined) {
        const token = await readCredential(adminDir, role);
        for (const n of nodes) servient.addCredentials({ [`urn:flowchain:node:${n.id}`]: { token } });
      }
      const wot = await servient.start();
      t.teardown(() => servient.shutdown());
      return wot.consume((await getJson<Td>(node.td!)).body as unknown as WoT.ThingDescription);
    };
    const device = await consumerWith("device");
    const put = (await (await device.invokeAction("put", {
      value: { lux: 7 },
      source: "urn:dev:stock",
    }))!.value()) as {
      txID: string;
    };
    t.regex(put.txID, /^[0-9a-f]{64}$/);
    // A device may not approve: node-wot 0.9.2 rejects a 403 answer of its HTTP client.
    await t.throwsAsync(device.invokeAction("approve", { txID: put.txID }));
    const endpoint = await consumerWith("endpoint");
    const approved = await eventually(async () => {
      try {
        return (await (await endpoint.invokeAction("approve", { txID: put.txID }))!.value()) as {
          verified: boolean;
        };
      } catch {
        return undefined; // the record's block may not be sealed yet
      }
    }, "the approval");
    t.true(approved.verified);
    // Inventory runs on the node holding the admin key (the first).
    const admin = await consumerWith("admin", nodes[0]);
    const inventory = (await (await admin.invokeAction("inventory"))!.value()) as { branches: unknown[] };
    t.is(inventory.branches.length, nodes.length);
    // Without a credential node-wot 0.9.2 fails before sending (it destructures the missing
    // credential: "Cannot destructure property 'token'"), whatever the interaction.
    const anonymous = await consumerWith(undefined);
    await t.throwsAsync(anonymous.invokeAction("put", { value: 1 }), { message: /token/ });
  },
);
