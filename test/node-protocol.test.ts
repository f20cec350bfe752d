// The peer protocol from the outside: a member (fresh key, valid join token) sends every method
// malformed params; each is a clear bad_params, no handler runs, and the node is unharmed.
import test from "ava";
import { z } from "zod";
import { createKeyPairSigner, MemoryPeerNetwork } from "../src/net/index.js";
import { PROTOCOL, METHODS, type Method } from "../src/node/protocol/table.js";
import { PeerClient } from "../src/node/protocol/peer-client.js";
import { MemoryCluster } from "./helpers/memory-cluster.js";

const HUGE = "f".repeat(200_000);

/** Inputs no method accepts: wrong shapes, wrong types in every field, oversized fields. */
function badInputs(method: Method): unknown[] {
  const schema = PROTOCOL[method].params;
  const out: unknown[] = [[], [{}], "x", 42, true, { extra: 1, __proto__: { polluted: true } }];
  const shape = schema instanceof z.ZodObject ? (schema.shape as Record<string, unknown>) : {};
  const fields = Object.keys(shape);
  if (fields.length > 0) {
    out.push(null);
    out.push(Object.fromEntries(fields.map((f) => [f, HUGE])));
    out.push(Object.fromEntries(fields.map((f) => [f, { nested: [1, 2, 3] }])));
    out.push(
      Object.fromEntries(fields.map((f) => [f, Array.from({ length: 20_000 }, () => "ab".repeat(32))])),
    );
  }
  return out;
}

test("every peer method refuses malformed params with bad_params, and the node is unharmed", async (t) => {
  t.timeout(60_000);
  const cluster = await MemoryCluster.start(1);
  t.teardown(() => cluster.stop());
  const node = cluster.node(0);
  const token = await node.joinToken();
  if (!token) throw new Error("the first node has a join token");
  const rogue = new MemoryPeerNetwork(cluster.hub, {
    signer: createKeyPairSigner(),
    networkId: node.networkId,
    adminPublicKey: node.network.descriptor.adminPublicKey,
    proof: token,
    requestTimeoutMs: 5_000,
  });
  await rogue.listen();
  t.teardown(() => rogue.close());

  const before = await node.stats();
  let refused = 0;
  for (const method of METHODS) {
    for (const input of badInputs(method)) {
      const err = await t.throwsAsync(
        rogue.call({ addr: node.addr }, method, input),
        undefined,
        `${method} ${JSON.stringify(input)?.slice(0, 80)}`,
      );
      const code = (err as { code?: string } | undefined)?.code;
      // A frame over the limit is refused by the transport before the node sees it.
      if (code === "too_large" || code === "bad_params") refused++;
      else t.fail(`${method} answered ${code}: ${err?.message} for ${JSON.stringify(input)?.slice(0, 80)}`);
    }
  }
  t.true(refused > METHODS.length * 6);

  // Unharmed: the ring, the ledger and the protocol still work for a well-behaved caller.
  const client = new PeerClient({
    transport: rogue,
    selfId: rogue.id,
    selfAddr: () => rogue.addr,
    local: () => new Map(),
  });
  const put = await client.call({ addr: node.addr }, "node.put", {
    value: { ok: 1 },
    source: "urn:test:after",
  });
  t.is((await client.call({ addr: node.addr }, "store.get", { key: put.key }))?.txID, put.txID);
  t.is((await client.call({ addr: node.addr }, "node.ring", null)).id, node.id);
  t.is((await node.stats()).records, before.records + 1);
});

test("a member's malformed answer is a failed call, not an exception inside the caller", async (t) => {
  const cluster = await MemoryCluster.start(1);
  t.teardown(() => cluster.stop());
  const node = cluster.node(0);
  const token = await node.joinToken();
  if (!token) throw new Error("the first node has a join token");
  const liar = new MemoryPeerNetwork(cluster.hub, {
    signer: createKeyPairSigner(),
    networkId: node.networkId,
    adminPublicKey: node.network.descriptor.adminPublicKey,
    proof: token,
  });
  // Answers every method with junk of the wrong shape.
  for (const m of METHODS) liar.handle(m, async () => ({ more: true, blocks: "nope", records: [null] }));
  await liar.listen();
  t.teardown(() => liar.close());
  const client = new PeerClient({
    transport: node.net,
    selfId: node.id,
    selfAddr: () => node.addr,
    local: () => new Map(),
  });
  for (const m of ["ledger.copies", "ledger.branch", "store.query", "store.get", "node.info"] as const) {
    const err = await t.throwsAsync(
      client.call(
        { addr: liar.addr },
        m,
        m === "store.get" ? { key: "ab".repeat(32) } : m === "store.query" ? { from: 0, to: 1 } : {},
      ),
    );
    t.is((err as { code?: string }).code, "bad_result", m);
  }
  t.deepEqual(await client.tryCall({ addr: liar.addr }, "ledger.copies", {}, []), []);
});
