// The explorer's in-page proof verifier (web/proof-verify.js: WebCrypto, no dependency), run in
// Node's WebCrypto: it agrees with the project's verifier on good proofs and, step for step, on
// where a tampered one fails.
import test from "ava";
import { fileURLToPath } from "node:url";
import { verifyMembershipToken } from "../src/net/membership.js";
import { verifyProof } from "../src/ledger/proof.js";
import { proofFixture } from "./helpers/proof-fixture.js";

type Report = { ok: boolean; steps: { step: string; ok: boolean }[]; reason?: string; anchor?: string };
type WebVerifier = { verifyProof(p: unknown): Promise<Report>; canonical(v: unknown): string };

// dist/test/ -> the package's web/ (served as is, never compiled).
const WEB = new URL("../../web/proof-verify.js", import.meta.url);
const load = async () => (await import(fileURLToPath(WEB))) as WebVerifier;
const project = (p: unknown) => verifyProof(p, { checkMembership: verifyMembershipToken });

test("the page verifies good proofs step by step, as the project does", async (t) => {
  const web = await load();
  for (const [n, merkle] of [
    [1, 2],
    [3, 2],
    [100, 2],
    [5, 1],
  ] as const) {
    const f = proofFixture(n, { merkle });
    for (const checkpoint of [true, false]) {
      const p = f.proof(n - 1, { checkpoint });
      const r = await web.verifyProof(JSON.parse(JSON.stringify(p)));
      t.true(r.ok, r.reason);
      t.deepEqual(
        r.steps.map((s) => s.step),
        project(p).steps.map((s) => s.step),
      );
      t.is(r.anchor, checkpoint ? "checkpoint" : "membership");
    }
  }
  t.is(
    web.canonical({ b: [1, 2.5, "é"], a: null, c: { z: 1e21, y: -0 } }),
    '{"a":null,"b":[1,2.5,"é"],"c":{"y":0,"z":1e+21}}',
  );
});

function leaves(v: unknown, path: string[] = []): { path: string[]; value: string | number }[] {
  if (typeof v === "string" || typeof v === "number") return [{ path, value: v }];
  if (Array.isArray(v)) return v.flatMap((x, i) => leaves(x, [...path, String(i)]));
  if (v !== null && typeof v === "object")
    return Object.entries(v).flatMap(([k, x]) => leaves(x, [...path, k]));
  return [];
}

test("a tampered proof turns red at the same step in the page as in the project", async (t) => {
  const web = await load();
  const good = JSON.parse(JSON.stringify(proofFixture(100).proof(37))) as Record<string, unknown>;
  const places = leaves(good).filter(
    (l) =>
      !["@context", "merkle.size"].includes(l.path.join(".")) &&
      !(l.path[0] === "blocks" && l.path[2] === "@context"),
  );
  let n = 0;
  for (const { path, value } of places) {
    const copy = structuredClone(good);
    let o = copy as Record<string, unknown>;
    for (const k of path.slice(0, -1)) o = o[k] as Record<string, unknown>;
    const s = String(value);
    o[path[path.length - 1]] =
      typeof value === "number" ? value + 1 : s.slice(0, 5) + (s[5] === "a" ? "b" : "a") + s.slice(6);
    const [mine, theirs] = [await web.verifyProof(copy), project(copy)];
    t.false(mine.ok, `page accepted a tamper of ${path.join(".")}`);
    t.false(theirs.ok);
    t.is(mine.reason?.split(":")[0], theirs.reason?.split(":")[0], path.join("."));
    n++;
  }
  t.true(n > 80, `${n} tampers`);
});
