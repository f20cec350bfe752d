// Inclusion proofs from running nodes: a real node process serves one over HTTP and over CoAP
// (Block2, to libcoap's client and to a raw client), `flowchain proof` fetches one and
// `flowchain verify-proof` checks it offline with its exit code; in a ring, any member hands out
// a checked proof of another member's record, anchored by the checkpoint once an inventory ran.
import { authHeaders } from "./helpers/credentials.js";
import test from "ava";
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import type { InclusionProof } from "../src/ledger/proof.js";
import { checkProof } from "../src/node/proofs.js";
import { NotFoundError, InputError } from "../src/util/errors.js";
import { Cluster } from "./helpers/cluster.js";
import { CoapOption, readUint } from "./helpers/coap-messages.js";
import { eventually } from "./helpers/eventually.js";
import { MemoryCluster } from "./helpers/memory-cluster.js";
import { RawCoapClient, runCoapClient } from "./wot-coap-helpers.js";

const CLI = join(dirname(fileURLToPath(import.meta.url)), "..", "src", "cli.js");
type Td = { actions: Record<string, { forms: { href: string }[] }> };
const form = (td: Td, action: string, scheme: string) =>
  td.actions[action].forms.find((f) => f.href.startsWith(scheme))!.href;

async function post(
  href: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; text: string }> {
  const res = await fetch(href, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify(body),
  });
  return { status: res.status, text: await res.text() };
}

/** Runs the CLI; resolves with its exit code and output whatever the code. */
async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [CLI, ...args]);
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

test("a real node serves a proof over HTTP and CoAP (Block2); the CLI fetches it and verify-proof checks it", async (t) => {
  const cluster = new Cluster();
  t.teardown(() => cluster.stop());
  const dir = await mkdtemp(join(tmpdir(), "flowchain-proof-"));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const node = await cluster.start();
  const td = (await (await fetch(node.td!)).json()) as Td;
  let last: { key: string; txID: string } | undefined;
  for (let i = 0; i < 5; i++) {
    const put = await post(
      form(td, "put", "http:"),
      { value: { i }, source: "urn:dev:proof" },
      await authHeaders(node.dataDir, "put"),
    );
    t.is(put.status, 200, put.text);
    last = JSON.parse(put.text) as { key: string; txID: string };
  }
  const { key, txID } = last!;

  // The node waits a moment for the sealing block, or answers 503: retry until sealed.
  const proofText = await eventually(async () => {
    const r = await post(form(td, "proof", "http:"), { txID });
    return r.status === 200 ? r.text : undefined;
  }, "a sealed proof over HTTP");
  const proof = JSON.parse(proofText) as InclusionProof;
  const report = checkProof(proof);
  t.true(report.ok, report.reason);
  t.is(proof.record.txID, txID);
  t.true(proofText.length > 1024, "the proof needs more than one CoAP block");

  const got = await post(form(td, "get", "http:"), { key, proof: true });
  t.is(got.status, 200, got.text);
  const withProof = JSON.parse(got.text) as { txID: string; proof: InclusionProof };
  t.is(withProof.txID, txID);
  t.true(checkProof(withProof.proof).ok);
  t.is((await post(form(td, "proof", "http:"), { txID: "zz" })).status, 400);
  t.is((await post(form(td, "proof", "http:"), { txID: "ab".repeat(32) })).status, 404);

  // libcoap's client reassembles the Block2 answer; a raw client sees the first block say "more".
  const coapHref = form(td, "proof", "coap:");
  const client = runCoapClient(t, [
    "-m",
    "post",
    "-t",
    "50",
    "-e",
    JSON.stringify({ txID }),
    "-B",
    "30",
    coapHref,
  ]);
  t.is(await client.exited, 0);
  const overCoap = JSON.parse(client.lines.join("")) as InclusionProof;
  t.deepEqual(overCoap, proof);
  const raw = await RawCoapClient.open(t, Number(new URL(coapHref).port));
  const first = await raw.request("POST", new URL(coapHref).pathname, {
    payload: JSON.stringify({ txID }),
    contentFormat: 50,
  });
  const block2 = first.options.find((o) => o.number === CoapOption.Block2);
  t.truthy(block2, "the answer is blockwise");
  t.true((readUint(block2!.value) & 8) !== 0, "more blocks follow the first");

  // flowchain proof TXID fetches and checks; verify-proof checks offline.
  const file = join(dir, "proof.json");
  const fetched = await cli(["proof", txID, "--url", node.td!, "--out", file]);
  t.is(fetched.code, 0, fetched.stderr);
  t.regex(fetched.stderr, /proof holds/);
  const ok = await cli(["verify-proof", file]);
  t.is(ok.code, 0, ok.stdout + ok.stderr);
  t.regex(ok.stdout, new RegExp(`^ok: transaction ${txID}`, "m"));
  const pinned = await cli(["verify-proof", file, "--admin", "cd".repeat(32)]);
  t.is(pinned.code, 1);
  t.regex(pinned.stdout, /FAILED: network: admin key is not the one expected/);

  const saved = JSON.parse(await readFile(file, "utf8")) as InclusionProof;
  const tampered = structuredClone(saved);
  tampered.record.value = { i: 999 };
  await writeFile(file, JSON.stringify(tampered));
  const bad = await cli(["verify-proof", file]);
  t.is(bad.code, 1);
  t.regex(bad.stdout, /FAILED: record: key does not match chunk/);
  const badPath = structuredClone(saved);
  badPath.merkle.path = [...badPath.merkle.path, "00".repeat(32)];
  await writeFile(file, JSON.stringify(badPath));
  t.regex((await cli(["verify-proof", file])).stdout, /FAILED: seal: /);
  const badSig = structuredClone(saved);
  badSig.blocks[0].signature = "00".repeat(64);
  await writeFile(file, JSON.stringify(badSig));
  t.regex((await cli(["verify-proof", file])).stdout, /FAILED: block: bad block signature/);
  await writeFile(file, "{ not json");
  t.is((await cli(["verify-proof", file])).code, 1);
  t.is((await cli(["verify-proof", join(dir, "missing.json")])).code, 1);
  t.is((await cli(["verify-proof"])).code, 2);
  t.is((await cli(["proof", "nothex"])).code, 2);
});

test("in a ring, any member hands out a checked proof of another member's record; after an inventory it is anchored by the checkpoint", async (t) => {
  const cluster = await MemoryCluster.start(3);
  t.teardown(() => cluster.stop());
  await cluster.converged();
  const put = await cluster.node(0).put({ value: { celsius: 20 }, source: "urn:dev:ring" });
  const asker = cluster.nodes.find((n) => n.id !== put.owner)!;
  const proof = await eventually(
    () => asker.proof({ txID: put.txID }).catch(() => undefined),
    "a proof once the record is sealed",
  );
  const report = checkProof(proof, { networkId: asker.networkId });
  t.true(report.ok, report.reason);
  t.is(report.miner, put.owner);
  t.is(report.anchor, "membership");

  await cluster.node(0).inventory();
  const anchored = (await asker.proof({ txID: put.txID })) as unknown as InclusionProof;
  const r2 = checkProof(anchored, { networkId: asker.networkId });
  t.true(r2.ok, r2.reason);
  t.is(r2.anchor, "checkpoint");
  t.truthy(anchored.checkpoint);

  // The approval checks the record and its block with the proof verifier's own code.
  const approved = await asker.approve({ txID: put.txID });
  t.like(approved, { verified: true, miner: put.owner });
  await t.throwsAsync(asker.proof({ txID: "ab".repeat(32) }), { instanceOf: NotFoundError });
  await t.throwsAsync(asker.proof({ txID: "nope" }), { instanceOf: InputError });
});
