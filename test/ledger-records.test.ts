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
import { auditPath, merkleRoot, rootFromPath } from "../src/ledger/merkle.js";
import { hashHeader, headerCanonical } from "../src/ledger/block.js";
import { InputError } from "../src/util/errors.js";
import { parseIsoTimestamp } from "../src/ledger/timestamp.js";
import { collect, openLedger, T0 } from "./ledger-helpers.js";

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

test("ISO timestamps must be real calendar instants: no rollover, 24:00, :60 or offsets beyond ±14:00", (t) => {
  const impossible = [
    "2024-02-30T00:00:00Z", // Date.parse: 1 March
    "2023-02-29T00:00:00Z", // not a leap year
    "1900-02-29", // divisible by 100, not by 400
    "2024-04-31",
    "2024-13-01T00:00:00Z",
    "2024-00-10T00:00:00Z",
    "2024-01-00T00:00:00Z",
    "2024-01-01T24:00:00Z", // Date.parse: the next midnight
    "2024-01-01T23:60:00Z",
    "2024-01-01T23:59:61Z",
    "2016-12-31T23:59:60Z", // a real leap second, refused: epoch ms cannot name it
    "2024-01-01T00:00:00+15:00",
    "2024-01-01T00:00:00-14:01",
    "2024-01-01T00:00:00+01:60",
  ];
  for (const ts of impossible) {
    const e = t.throws(
      () => normaliseChunk({ source: "s", timestamp: ts, value: 1 }),
      { instanceOf: InputError },
      ts,
    );
    t.is(e?.code, "bad_timestamp", ts);
    t.true(e?.message.includes(ts), e?.message);
  }
  t.regex(t.throws(() => parseIsoTimestamp("2024-02-30T00:00:00Z"))!.message, /2024-02 has no day 30/);
  t.regex(t.throws(() => parseIsoTimestamp("2016-12-31T23:59:60Z"))!.message, /leap second/);
  // Real instants keep the value Date.parse gave them, so existing keys do not change.
  const valid = [
    "2024-02-29T00:00:00Z",
    "2000-02-29",
    "2024-12-31T23:59:59.999Z",
    "2024-01-01T00:00:00.1239999Z", // fractions truncated to ms
    "2024-01-01T00:00:00+14:00",
    "2024-01-01T00:00:00-14:00",
    "2024-01-01T05:30+0530",
    "2024-01-01T10:00Z",
  ];
  for (const ts of valid)
    t.is(normaliseChunk({ source: "s", timestamp: ts, value: 1 }).timestamp, Date.parse(ts), ts);
});

test("numbers beyond ±(2^53-1) are refused in a new chunk, naming their path", (t) => {
  const ok = { source: "s", timestamp: 1 };
  // 9007199254740993 arrives from JSON.parse as 9007199254740992: the check sees the rounded value.
  const parsed = JSON.parse('{"n": 9007199254740993}') as { n: number };
  t.is(parsed.n, 2 ** 53);
  const cases: [unknown, string][] = [
    [parsed, "value.n"],
    [{ a: [1, -(2 ** 53)] }, "value.a[1]"],
    [2 ** 53, "value"],
    [1e300, "value"],
    [{ deep: { x: [{ y: -1e21 }] } }, "value.deep.x[0].y"],
  ];
  for (const [value, path] of cases) {
    const e = t.throws(() => normaliseChunk({ ...ok, value }), { instanceOf: InputError }, path);
    t.is(e?.code, "unsafe_number", path);
    t.true(e?.message.startsWith(`${path}: `), e?.message);
  }
  for (const value of [Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER, 0.1, -0, 1e-300, 123456789.5e3])
    t.notThrows(() => normaliseChunk({ ...ok, value: { v: value } }), String(value));
  // Non-finite numbers (JSON.parse turns 1e400 into Infinity) are not JSON at all.
  t.throws(() => normaliseChunk({ ...ok, value: JSON.parse("[1e400]") }), { instanceOf: InputError });
  // Numeric timestamps too: a safe integer (ms), whatever the clock allows.
  for (const timestamp of [2 ** 53, 1e300])
    t.is(
      t.throws(() => normaliseChunk({ ...ok, value: 1, timestamp }), { instanceOf: InputError })?.code,
      "bad_timestamp",
    );
});

test("a stored record with a number beyond 2^53 (written before the rule) still verifies", (t) => {
  const value = { n: 2 ** 53 };
  const canonicalValue = canonicalJson(value);
  const canonical = `{"source":"s","timestamp":1000,"value":${canonicalValue}}`;
  const c = { source: "s", timestamp: 1000, value, canonical, canonicalValue };
  const r = buildRecord(c, d2(canonical), { hash: "cd".repeat(32), height: 3 }, 0, Identity.generate());
  t.is(verifyRecord(r), null);
  t.throws(() => normaliseChunk(r), { instanceOf: InputError });
});

test("canonical JSON of every accepted number is its ECMAScript shortest round-trip form", (t) => {
  // RFC 8785 §3.2.2.3: numbers serialise as ECMAScript Number.prototype.toString; safe integers
  // therefore print as their exact decimal digits, and parse back to the same number.
  const numbers = [0, -0, 1, -1, 21.5, 0.1, 1e-7, 1e-300, 5e-324, 123456789012, Number.MAX_SAFE_INTEGER];
  numbers.push(-Number.MAX_SAFE_INTEGER, 2 ** 52 + 0.5, 4.35, 1e20 / 3, Number.EPSILON);
  for (const n of numbers) {
    const s = canonicalJson(n);
    t.is(s, n === 0 ? "0" : String(n), String(n));
    t.is(JSON.parse(s), n === 0 ? 0 : n);
  }
  t.is(canonicalJson(Number.MAX_SAFE_INTEGER), "9007199254740991");
  t.is(canonicalJson(1e-7), "1e-7");
  t.is(canonicalJson(-0), "0");
  // The chunk's hand-built canonical form (timestamp interpolated) matches the generic one.
  const c = normaliseChunk({ source: "s", timestamp: T0, value: [0.1, -0, 2 ** 53 - 1] });
  t.is(c.canonical, canonicalJson({ source: c.source, timestamp: c.timestamp, value: c.value }));
});

test("ledger: put and query refuse impossible ISO timestamps and unsafe numbers", async (t) => {
  const ledger = await openLedger(t);
  for (const timestamp of ["2024-02-30T00:00:00Z", "2024-01-01T24:00:00Z", "2024-01-01T00:00:00+15:00"]) {
    await t.throwsAsync(
      ledger.put({ source: "s", timestamp, value: 1 }),
      { instanceOf: InputError },
      timestamp,
    );
    await t.throwsAsync(collect(ledger.query({ from: timestamp, to: T0 })), { instanceOf: InputError });
    await t.throwsAsync(collect(ledger.query({ from: 0, to: timestamp })), { instanceOf: InputError });
  }
  await t.throwsAsync(collect(ledger.query({ from: 0, to: 2 ** 53 })), { instanceOf: InputError });
  await t.throwsAsync(ledger.put({ source: "s", timestamp: T0, value: { n: 2 ** 53 } }), {
    instanceOf: InputError,
    message: /^value\.n: /,
  });
  const r = await ledger.put({ source: "s", timestamp: "2024-02-29T12:00:00Z", value: { n: 2 ** 53 - 1 } });
  t.is(r.timestamp, Date.UTC(2024, 1, 29, 12));
  t.deepEqual(r.value, { n: Number.MAX_SAFE_INTEGER });
  t.is((await collect(ledger.query({ from: "2024-02-29", to: "2024-03-01T00:00:00Z" }))).length, 1);
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

test("version-1 Merkle root (old blocks): hex concatenation, the leaf is its own root", (t) => {
  const leaves = ["a", "b", "c", "d", "e"].map((x) => d2(x));
  const root = merkleRoot(leaves, 1);
  t.is(merkleRoot([], 1), "0".repeat(64));
  t.is(merkleRoot([leaves[0]], 1), leaves[0]);
  t.is(merkleRoot(leaves.slice(0, 2), 1), d2(leaves[0] + leaves[1]));
  // Five leaves: peaks (a..d) and e, bagged right to left.
  const abcd = d2(d2(leaves[0] + leaves[1]) + d2(leaves[2] + leaves[3]));
  t.is(root, d2(abcd + leaves[4]));
  t.not(merkleRoot([leaves[1], leaves[0], ...leaves.slice(2)], 1), root);
  t.not(merkleRoot(leaves.slice(0, 4), 1), root);
});

// RFC 6962 MTH written out from the RFC, independently of the accumulator under test.
function mth(leaves: string[]): string {
  const sha = (...parts: Buffer[]) => createHash("sha256").update(Buffer.concat(parts)).digest();
  const rec = (d: Buffer[]): Buffer => {
    if (d.length === 0) return sha();
    if (d.length === 1) return sha(Buffer.from([0]), d[0]);
    let k = 1;
    while (k * 2 < d.length) k *= 2;
    return sha(Buffer.from([1]), rec(d.slice(0, k)), rec(d.slice(k)));
  };
  return rec(leaves.map((l) => Buffer.from(l, "hex"))).toString("hex");
}

test("version-2 Merkle root is RFC 6962: prefixed leaves and nodes, split at the largest power of two", (t) => {
  const leaves = Array.from({ length: 70 }, (_, i) => d2(String(i)));
  for (const n of [0, 1, 2, 3, 4, 5, 7, 8, 9, 31, 64, 65, 70]) {
    t.is(merkleRoot(leaves.slice(0, n)), mth(leaves.slice(0, n)), `n = ${n}`);
  }
  t.is(merkleRoot([]), createHash("sha256").digest("hex"));
  t.not(merkleRoot([leaves[0]]), leaves[0]);
  // A tree of two leaves is not a tree of one leaf equal to their parent (second preimage).
  const parent = merkleRoot(leaves.slice(0, 2));
  t.not(merkleRoot([parent]), parent);
  t.not(merkleRoot([leaves[1], leaves[0]]), parent);
});

test("RFC 6962 audit paths lead every leaf to the root, and only that leaf at that index", (t) => {
  const leaves = Array.from({ length: 37 }, (_, i) => d2(`leaf ${i}`));
  for (const version of [1, 2] as const) {
    for (const n of [1, 2, 3, 4, 5, 8, 13, 16, 17, 37]) {
      const set = leaves.slice(0, n);
      const root = merkleRoot(set, version);
      for (let i = 0; i < n; i++) {
        const path = auditPath(set, i, version);
        t.true(path.length <= Math.ceil(Math.log2(n)), `path length ${path.length} for n = ${n}`);
        t.is(rootFromPath(set[i], i, n, path, version), root, `v${version} n=${n} i=${i}`);
        if (n > 1) {
          t.not(rootFromPath(set[i], (i + 1) % n, n, path, version), root);
          t.not(rootFromPath(set[(i + 1) % n], i, n, path, version), root);
        }
        t.is(rootFromPath(set[i], i, n, [...path, root], version), null);
      }
    }
  }
  t.is(rootFromPath(leaves[0], 1, 1, []), null);
  t.throws(() => auditPath(leaves, 37));
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
  const v2 = { ...h, merkle: 2 as const };
  t.is(headerCanonical(v2), canonicalJson(v2));
  t.not(hashHeader(v2), hashHeader(h));
});
