import test from "ava";
import { stat, writeFile, chmod } from "node:fs/promises";
import { join } from "node:path";
import { createHash } from "node:crypto";
import { Identity } from "../src/ledger/identity.js";
import { genesisBlock, networkId } from "../src/ledger/genesis.js";
import { InputError } from "../src/util/errors.js";
import { tempDir } from "./ledger-helpers.js";

test("identity is created once with mode 0600 and reloaded with the same id", async (t) => {
  const dir = await tempDir(t);
  const a = await Identity.loadOrCreate(dir);
  t.regex(a.id, /^[0-9a-f]{64}$/);
  t.is(a.id, createHash("sha256").update(Buffer.from(a.publicKeyHex, "hex")).digest("hex"));
  t.is((await stat(join(dir, "node.key"))).mode & 0o777, 0o600);
  const b = await Identity.loadOrCreate(dir);
  t.is(b.id, a.id);
  t.is(b.publicKeyHex, a.publicKeyHex);
});

test("a key file with loose permissions is tightened; a raw hex seed is accepted", async (t) => {
  const dir = await tempDir(t);
  await writeFile(join(dir, "seed.key"), "11".repeat(32));
  await chmod(join(dir, "seed.key"), 0o644);
  const a = await Identity.loadOrCreate(dir, "seed.key");
  const b = await Identity.loadOrCreate(dir, "seed.key");
  t.is(a.id, b.id);
  t.is((await stat(join(dir, "seed.key"))).mode & 0o777, 0o600);
});

test("a corrupt key file is an error, not a silently new identity", async (t) => {
  const dir = await tempDir(t);
  await writeFile(join(dir, "node.key"), "not a key");
  await t.throwsAsync(Identity.loadOrCreate(dir));
});

test("signatures verify, and verify never throws on garbage", (t) => {
  const a = Identity.generate();
  const sig = a.sign("hello");
  t.true(Identity.verify(a.publicKeyHex, "hello", sig));
  t.false(Identity.verify(a.publicKeyHex, "hellO", sig));
  t.false(Identity.verify(Identity.generate().publicKeyHex, "hello", sig));
  t.false(Identity.verify("zz", "hello", sig));
  t.false(Identity.verify(a.publicKeyHex, "hello", "00"));
  t.false(Identity.verify(a.publicKeyHex, "hello", undefined as unknown as string));
  t.false(Identity.verify("00".repeat(32), "hello", sig));
});

test("genesis is deterministic per network and differs between networks", (t) => {
  const admin = "ab".repeat(32);
  const g1 = genesisBlock({ name: "net", adminPublicKey: admin });
  const g2 = genesisBlock({ name: "net", adminPublicKey: admin });
  t.deepEqual(g1, g2);
  t.is(g1.height, 0);
  t.is(networkId({ name: "net", adminPublicKey: admin }), g1.hash);
  t.not(networkId({ name: "net2", adminPublicKey: admin }), g1.hash);
  t.not(networkId({ name: "net", adminPublicKey: "cd".repeat(32) }), g1.hash);
  t.throws(() => genesisBlock({ name: "", adminPublicKey: admin }), { instanceOf: InputError });
  t.throws(() => genesisBlock({ name: "x", adminPublicKey: "nothex" }), { instanceOf: InputError });
});
