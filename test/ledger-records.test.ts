import test from "ava";
import { createHash } from "node:crypto";
import jsonld from "jsonld";
import { canonicalJson } from "../src/ledger/canonical.js";
import { Identity } from "../src/ledger/identity.js";
import {
  buildRecord,
  dataKey,
  MAX_CHUNK_BYTES,
  normaliseChunk,
  signingString,
  txIdFor,
  verifyRecord,
} from "../src/ledger/record.js";
import { documentLoader } from "../src/ledger/jsonld-loader.js";
import { LEDGER_CONTEXT_URL } from "../src/ledger/context.js";
import { merkleRoot } from "../src/ledger/merkle.js";
import { hashHeader, headerCanonical } from "../src/ledger/block.js";
import { InputError } from "../src/util/errors.js";

const d2 = (s: string) => createHash("sha256").update(createHash("sha256").update(s).digest()).digest("hex");

test("canonical JSON is RFC 8785: sorted keys at every depth, no whitespace", (t) => {
  t.is(
    canonicalJson({ b: 1, a: { d: [1, { z: 1, y: 2 }], c: "é" } }),
    '{"a":{"c":"é","d":[1,{"y":2,"z":1}]},"b":1}',
  );
  t.is(canonicalJson(1e21), "1e+21");
});

test("canonical JSON refuses values that are not JSON", (t) => {
  const cyclic: Record<string, unknown> = {};
  cyclic.self = cyclic;
  const sparse = [1, 2];
  delete sparse[0];
  for (const bad of [
    undefined,
    () => 1,
    10n,
    NaN,
    Infinity,
    { a: undefined },
    sparse,
    cyclic,
    new Date(0),
    Symbol("x"),
  ]) {
    t.throws(() => canonicalJson(bad), { instanceOf: InputError }, String(bad));
  }
});

test("data key and txID follow the paper's formulas, computed by hand", (t) => {
  const chunk = { source: "sensor-1", timestamp: 1492041600000, value: { temp: 21.5, unit: "C" } };
  const canonical = '{"source":"sensor-1","timestamp":1492041600000,"value":{"temp":21.5,"unit":"C"}}';
  t.is(normaliseChunk(chunk).canonical, canonical);
  const key = d2(canonical);
  t.is(dataKey(chunk), key);
  // Key order in the input does not matter; an ISO timestamp means the same instant.
  t.is(
    dataKey({ value: { unit: "C", temp: 21.5 }, timestamp: "2017-04-13T00:00:00Z", source: "sensor-1" }),
    key,
  );
  const block = "ab".repeat(32);
  t.is(txIdFor(block, key), d2(block + key));
});

test("bad chunks are rejected with InputError", (t) => {
  const ok = { source: "s", timestamp: 1, value: 1 };
  const bad: unknown[] = [
    { ...ok, timestamp: NaN },
    { ...ok, timestamp: -1 },
    { ...ok, timestamp: 1.5 },
    { ...ok, timestamp: Date.now() + 2 * 86_400_000 },
    { ...ok, timestamp: "yesterday" },
    { ...ok, timestamp: "2020-01-01T10:00:00" },
    { ...ok, timestamp: "2020-13-45T00:00:00Z" },
    { ...ok, timestamp: null },
    { ...ok, source: "" },
    { ...ok, source: 5 },
    { ...ok, source: "a\u0000b" },
    { ...ok, value: undefined },
    { ...ok, value: { f: () => 1 } },
    { ...ok, value: 5n },
    { ...ok, value: "x".repeat(MAX_CHUNK_BYTES) },
    null,
    "chunk",
  ];
  for (const c of bad)
    t.throws(() => normaliseChunk(c as never), { instanceOf: InputError }, JSON.stringify(String(c)));
  t.notThrows(() => normaliseChunk({ ...ok, value: "x".repeat(MAX_CHUNK_BYTES - 100) }));
});

function sampleRecord(id = Identity.generate()) {
  const c = normaliseChunk({ source: "s", timestamp: 1000, value: { n: [1, 2, 3], s: "x" } });
  return buildRecord(c, d2(c.canonical), { hash: "cd".repeat(32), height: 3 }, 0, id);
}

test("a built record verifies; its fast signing bytes equal the generic canonical form", (t) => {
  const id = Identity.generate();
  const r = sampleRecord(id);
  t.is(verifyRecord(r), null);
  t.true(Identity.verify(id.publicKeyHex, signingString(r), r.signature));
  t.is(r.miner, id.id);
});

test("verifyRecord names what was tampered with", (t) => {
  const r = sampleRecord();
  t.regex(verifyRecord({ ...r, value: { n: [1, 2, 4], s: "x" } })!, /key/);
  t.regex(verifyRecord({ ...r, block: "ef".repeat(32) })!, /txID/);
  t.regex(verifyRecord({ ...r, index: 1 })!, /signature/);
  t.regex(verifyRecord({ ...r, minerKey: Identity.generate().publicKeyHex })!, /miner/);
  t.regex(verifyRecord({ ...r, signature: "00".repeat(64) })!, /signature/);
  t.regex(verifyRecord({ ...r, extra: 1 } as never)!, /signature/);
  t.regex(verifyRecord({ ...r, "@context": "http://evil.example/ctx" })!, /context/);
  t.truthy(verifyRecord(null as never));
});

test("records expand as JSON-LD offline through the local context; other URLs are refused", async (t) => {
  const r = sampleRecord();
  const expanded = (await jsonld.expand(r as never, { documentLoader: documentLoader as never })) as Record<
    string,
    unknown
  >[];
  t.is(expanded.length, 1);
  t.deepEqual(expanded[0]["@type"], ["https://flowchain.io/ns/ledger#Transaction"]);
  const v = expanded[0]["https://flowchain.io/ns/ledger#value"] as { "@value": unknown }[];
  t.deepEqual(v[0]["@value"], { n: [1, 2, 3], s: "x" });
  t.is((await documentLoader(LEDGER_CONTEXT_URL)).documentUrl, LEDGER_CONTEXT_URL);
  await t.throwsAsync(documentLoader("https://example.org/ctx"), { message: /refusing/ });
  await t.throwsAsync(
    jsonld.expand({ "@context": "https://example.org/ctx", a: 1 } as never, {
      documentLoader: documentLoader as never,
    }),
  );
});

test("Merkle root depends on every leaf and on their order", (t) => {
  const leaves = ["a", "b", "c", "d", "e"].map((x) => d2(x));
  const root = merkleRoot(leaves);
  t.is(merkleRoot([]), "0".repeat(64));
  t.is(merkleRoot([leaves[0]]), leaves[0]);
  t.is(merkleRoot(leaves.slice(0, 2)), d2(leaves[0] + leaves[1]));
  // Five leaves: peaks (a..d) and e, bagged right to left.
  const abcd = d2(d2(leaves[0] + leaves[1]) + d2(leaves[2] + leaves[3]));
  t.is(root, d2(abcd + leaves[4]));
  t.not(merkleRoot([leaves[1], leaves[0], ...leaves.slice(2)]), root);
  t.not(merkleRoot(leaves.slice(0, 4)), root);
});

test("the fast header serialisation is the RFC 8785 one", (t) => {
  const h = {
    height: 7,
    prev: "ab".repeat(32),
    timestamp: 1700000000123,
    miner: "cd".repeat(32),
    target: "0f" + "f".repeat(62),
    nonce: 123456,
    sealedRoot: "ef".repeat(32),
  };
  t.is(headerCanonical(h), canonicalJson(h));
  t.is(hashHeader(h), d2(canonicalJson(h)));
});
