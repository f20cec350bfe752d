import test from "ava";
import { InputError } from "../src/util/errors.js";
import { collect, openLedger, T0 } from "./ledger-helpers.js";

test("a batch of replicas is verified, stored in one write, and readable by key", async (t) => {
  const owner = await openLedger(t);
  const replica = await openLedger(t);
  const docs = await Promise.all(
    [0, 1, 2].map((i) => owner.put({ source: "s", timestamp: T0 + i, value: { i } })),
  );
  t.deepEqual(await replica.storeReplicas(docs), { stored: 3 });
  for (const d of docs) t.deepEqual(await replica.getReplica(d.key), d);
  t.is((await collect(replica.replicaKeys())).length, 3);
  // Storing the same batch again changes nothing visible.
  await replica.storeReplicas(docs);
  t.is((await collect(replica.replicaKeys())).length, 3);
});

test("one tampered record rejects the whole batch and nothing is stored", async (t) => {
  const owner = await openLedger(t);
  const replica = await openLedger(t);
  const docs = await Promise.all(
    [0, 1].map((i) => owner.put({ source: "s", timestamp: T0 + i, value: { i } })),
  );
  const tampered = { ...docs[1], value: { i: 99 } };
  await t.throwsAsync(replica.storeReplicas([docs[0], tampered]), {
    instanceOf: InputError,
    message: /replica rejected/,
  });
  t.deepEqual(await collect(replica.replicaKeys()), []);
});

test("a node's own records offered back as replicas are skipped", async (t) => {
  const owner = await openLedger(t);
  const doc = await owner.put({ source: "s", timestamp: T0, value: 1 });
  t.deepEqual(await owner.storeReplicas([doc]), { stored: 0 });
  t.is(await owner.getReplica(doc.key), undefined);
});

test("onSigned hands over the signed record of a new put, and is not called for a repeat", async (t) => {
  const ledger = await openLedger(t);
  let early: unknown;
  const put = ledger.put({ source: "s", timestamp: T0, value: 1 }, { onSigned: (d) => (early = d) });
  const doc = await put;
  t.deepEqual(early, doc);
  let again = false;
  await ledger.put({ source: "s", timestamp: T0, value: 1 }, { onSigned: () => (again = true) });
  t.false(again);
});

test("a chunk already held as a replica resolves with that record instead of being recorded again", async (t) => {
  const owner = await openLedger(t);
  const successor = await openLedger(t);
  const chunk = { source: "s", timestamp: T0, value: { took: "over" } };
  const original = await owner.put(chunk);
  await successor.storeReplicas([original]);
  t.deepEqual(await successor.put(chunk), original);
  t.deepEqual(await collect(successor.ownKeys()), []);
});
