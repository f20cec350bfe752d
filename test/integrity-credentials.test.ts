// Client credentials from outside: anonymous and wrong-role callers of a real ring over HTTP
// (curl-like fetch) and CoAP (libcoap's coap-client-notls) are refused with 401/403 and 4.01/4.03
// and change nothing; a credential issued with the CLI carries its source scope and its expiry.
import test from "ava";
import { execFile } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { Identity } from "../src/ledger/identity.js";
import {
  checkCredential,
  issueCredential,
  MAX_CREDENTIAL_BYTES,
  sourceInScope,
} from "../src/node/credentials.js";
import { Cluster, type NodeProc } from "./helpers/cluster.js";
import { readCredential } from "./helpers/credentials.js";
import { eventually } from "./helpers/eventually.js";
import { runCoapClient } from "./wot-coap-helpers.js";

const CLI = join(dirname(fileURLToPath(import.meta.url)), "..", "src", "cli.js");
const SECURED = ["put", "approve", "report", "inventory"] as const;
type Td = { actions: Record<string, { forms: { href: string }[] }> };

test("credentials: roles, expiry, the network they are signed for, one CoAP option long", (t) => {
  const admin = Identity.generate();
  const other = Identity.generate();
  const now = Date.UTC(2026, 0, 1);
  const device = issueCredential(admin, "net-a", {
    role: "device",
    subject: "kitchen-sensor-0001",
    source: "urn:dev:kitchen",
    ttlMs: 30 * 86_400_000,
    now,
  });
  t.true(device.length <= MAX_CREDENTIAL_BYTES);
  const ok = checkCredential(device, "net-a", admin.publicKeyHex, now + 1000);
  t.true(ok.ok);
  if (ok.ok)
    t.like(ok.credential, { role: "device", subject: "kitchen-sensor-0001", source: "urn:dev:kitchen" });
  t.like(checkCredential(device, "net-a", admin.publicKeyHex, now + 31 * 86_400_000), {
    ok: false,
    reason: "expired",
  });
  t.like(checkCredential(device, "net-b", admin.publicKeyHex, now), { ok: false, reason: "bad_signature" });
  t.like(checkCredential(device, "net-a", other.publicKeyHex, now), { ok: false, reason: "bad_signature" });
  // One changed claim byte: the role can't be raised.
  const [p, body, sig] = device.split(".");
  const raised = Buffer.from(
    Buffer.from(body!, "base64url").toString().replace('"device"', '"admin"'),
  ).toString("base64url");
  t.like(checkCredential(`${p}.${raised}.${sig}`, "net-a", admin.publicKeyHex, now), { ok: false });
  t.like(checkCredential("garbage", "net-a", admin.publicKeyHex, now), { ok: false, reason: "malformed" });
  t.throws(
    () => issueCredential(admin, "net-a", { role: "device", subject: "s", source: `urn:${"x".repeat(120)}` }),
    {
      message: /CoAP carries at most/,
    },
  );
  // An admin token of the first format (fca1., as older data directories hold) still counts as admin.
  const legacyBody = Buffer.from(JSON.stringify({ network: "net-a", role: "admin", issued: now })).toString(
    "base64url",
  );
  const legacySig = Buffer.from(admin.sign(`fca1.${legacyBody}`), "hex").toString("base64url");
  const legacy = checkCredential(`fca1.${legacyBody}.${legacySig}`, "net-a", admin.publicKeyHex, now);
  t.true(legacy.ok && legacy.credential.role === "admin");
  t.like(checkCredential(`fca1.${legacyBody}.${legacySig}`, "net-b", admin.publicKeyHex, now), { ok: false });
  t.true(sourceInScope("urn:dev:kitchen", "urn:dev:kitchen"));
  t.true(sourceInScope("urn:dev:kitchen", "urn:dev:kitchen:fridge"));
  t.false(sourceInScope("urn:dev:kitchen", "urn:dev:kitchenette"));
  t.false(sourceInScope("urn:dev:kitchen", "urn:dev:garage"));
});

const cluster = new Cluster();
let first: NodeProc;
let td: Td;
test.before(async () => {
  first = (await cluster.ring(2)).first;
  td = (await (await fetch(first.td!)).json()) as Td;
});
test.after.always(() => cluster.stop());

const form = (action: string, scheme: string) =>
  td.actions[action]!.forms.find((f) => f.href.startsWith(`${scheme}:`))!.href;

async function post(action: string, body: unknown, token?: string) {
  const res = await fetch(form(action, "http"), {
    method: "POST",
    headers: {
      "content-type": "application/json",
      ...(token === undefined ? {} : { authorization: `Bearer ${token}` }),
    },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(30_000),
  });
  return { status: res.status, text: await res.text(), auth: res.headers.get("www-authenticate") };
}

const INPUT: Record<(typeof SECURED)[number], unknown> = {
  put: { value: { celsius: 1 }, source: "urn:dev:anonymous" },
  approve: { txID: "ab".repeat(32) },
  report: { battery: 0, condition: "low_battery" },
  inventory: undefined,
};

async function records(source: string): Promise<number> {
  const r = await post("query", { from: 0, to: Date.now() + 60_000, source });
  return (JSON.parse(r.text) as { records: unknown[] }).records.length;
}

async function cli(args: string[]) {
  try {
    const { stdout } = await promisify(execFile)(process.execPath, [CLI, ...args]);
    return { code: 0, stdout: stdout.trim(), stderr: "" };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

test.serial(
  "HTTP: no credential 401 with WWW-Authenticate, another role's 403, on put, approve, report, inventory",
  async (t) => {
    const chainBefore = await (
      await fetch(td.actions.put!.forms[0]!.href.replace(/actions\/put$/, "properties/chain"))
    ).json();
    const device = await readCredential(first.dataDir, "device");
    const endpoint = await readCredential(first.dataDir, "endpoint");
    for (const action of SECURED) {
      const none = await post(action, INPUT[action]);
      t.is(none.status, 401, `${action}: ${none.text}`);
      t.regex(none.auth ?? "", /^Bearer realm=/, action);
      const forged = await post(action, INPUT[action], "fcc1.e30.AAAA");
      t.is(forged.status, 401, action);
      t.regex(forged.auth ?? "", /error="invalid_token"/, action);
      const wrong = await post(action, INPUT[action], action === "put" ? endpoint : device);
      t.is(wrong.status, 403, `${action}: ${wrong.text}`);
    }
    // Nothing changed: no record, and the block in use was not retired by the refused report.
    t.is(await records("urn:dev:anonymous"), 0);
    const chainAfter = (await (
      await fetch(td.actions.put!.forms[0]!.href.replace(/actions\/put$/, "properties/chain"))
    ).json()) as { validBlock: unknown };
    t.is(chainAfter.validBlock, (chainBefore as { validBlock: unknown }).validBlock);
    t.is((await post("put", { value: 1, source: "urn:dev:ok" }, device)).status, 200);
  },
);

test.serial(
  "CoAP with libcoap: 4.01 without a credential, 4.03 with another role's, 2.04 with the device's (-O 15,access_token=...)",
  async (t) => {
    const href = form("put", "coap");
    const file = join(await cluster.tempDir(), "coap-put.json");
    await writeFile(file, JSON.stringify({ value: 2, source: "urn:dev:libcoap" }));
    // libcoap's URI parser takes at most ~98 bytes of query, so the credential goes as one option.
    // The answer's code, from the exchange libcoap logs at -v 7 (stderr).
    const acks = async (token?: string) => {
      const auth = token === undefined ? [] : ["-O", `15,access_token=${token}`];
      const r = runCoapClient(t, ["-v", "7", "-m", "post", "-t", "50", "-f", file, ...auth, href]);
      let log = "";
      r.proc.stderr!.on("data", (d: Buffer) => (log += d.toString()));
      await r.exited;
      return (
        [...r.lines, ...log.split("\n")]
          .filter((l) => /t:ACK|t:CON/.test(l) && !/c:POST/.test(l))
          .map((l) => /c:(\d\.\d\d)/.exec(l)?.[1])
          // An empty ACK (a separate response follows, as under load) is no answer.
          .filter((c) => c !== undefined && c !== "0.00")
      );
    };
    t.deepEqual(await acks(), ["4.01"]);
    t.deepEqual(await acks(await readCredential(first.dataDir, "endpoint")), ["4.03"]);
    t.deepEqual(await acks(await readCredential(first.dataDir, "device")), ["2.04"]);
    t.is(await records("urn:dev:libcoap"), 1);
  },
);

test.serial(
  "flowchain credential issue: a scoped device writes only its sources; an expired credential is refused",
  async (t) => {
    const scoped = await cli([
      "credential",
      "issue",
      "--role",
      "device",
      "--source",
      "urn:dev:kitchen",
      "--ttl",
      "30d",
      "--subject",
      "kitchen",
      "--data",
      first.dataDir,
    ]);
    t.is(scoped.code, 0, scoped.stderr);
    t.regex(scoped.stdout, /^fcc1\.[\w-]+\.[\w-]+$/);
    t.is((await post("put", { value: 1, source: "urn:dev:garage" }, scoped.stdout)).status, 403);
    t.is((await post("put", { value: 1, source: "urn:dev:kitchen:fridge" }, scoped.stdout)).status, 200);
    const unnamed = await post("put", { value: { n: 3 } }, scoped.stdout);
    t.is(unnamed.status, 200, unnamed.text);
    t.is(await records("urn:dev:kitchen"), 1, "a put naming no source gets the credential's");

    const brief = await cli([
      "credential",
      "issue",
      "--role",
      "device",
      "--ttl",
      "2s",
      "--data",
      first.dataDir,
    ]);
    t.is(brief.code, 0, brief.stderr);
    const expired = await eventually(async () => {
      const r = await post("put", { value: 1, source: "urn:dev:brief" }, brief.stdout);
      return r.status === 401 ? r : undefined;
    }, "the credential expired");
    t.regex(expired.text, /expired/);

    // Usage errors say what is wrong; a directory without the admin key cannot issue.
    const badRole = await cli(["credential", "issue", "--role", "king", "--data", first.dataDir]);
    t.not(badRole.code, 0);
    t.regex(badRole.stderr, /--role must be one of device, endpoint, operator, admin/);
    const member = cluster.nodes.find((n) => n !== first)!;
    const notAdmin = await cli(["credential", "issue", "--role", "device", "--data", member.dataDir]);
    t.not(notAdmin.code, 0);
    t.regex(notAdmin.stderr, /holds no admin\.key/);
    const badTtl = await cli([
      "credential",
      "issue",
      "--role",
      "device",
      "--ttl",
      "soon",
      "--data",
      first.dataDir,
    ]);
    t.regex(badTtl.stderr, /not a duration/);
  },
);
