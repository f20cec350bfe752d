// A rogue member against real node processes: a fresh key holding a valid join token, never in the
// ring, lying in every field it sends. Every forgery the issue lists is refused, the nodes stay
// unharmed, and a later real put of the chunk the rogue tried to claim is acknowledged with its
// real owner, whose approval pays only the real record.
import test from "ava";
import { readdir, stat } from "node:fs/promises";
import { join } from "node:path";
import { hashHeader, makeBlock, type Block } from "../src/ledger/block.js";
import { Identity } from "../src/ledger/identity.js";
import { buildRecord, normaliseChunk, type RecordDoc } from "../src/ledger/record.js";
import type { ApproveResult, PutResult } from "../src/node/api.js";
import { FLOWCOIN_SOURCE, grantChunk } from "../src/node/approval.js";
import { Cluster } from "./helpers/cluster.js";
import { chunkOwnedBy } from "./helpers/owned-chunk.js";

const CODE = (err: unknown) => (err as { code?: string } | undefined)?.code;

/** A block signed by `id` at `height` on top of an invented parent: valid on its own, linked to nothing. */
function inventedBlock(id: Identity, height: number, prev: string): Block {
  const header = {
    height,
    prev,
    timestamp: Date.now(),
    miner: id.id,
    target: "f".repeat(64),
    nonce: 0,
    sealedRoot: "0".repeat(64),
  };
  return makeBlock(header, hashHeader(header), id);
}

function forgedRecord(
  id: Identity,
  chunk: { source: string; timestamp: number; value: unknown; key: string },
  block: { hash: string; height: number },
): RecordDoc {
  const { source, timestamp, value } = chunk;
  return buildRecord(normaliseChunk({ source, timestamp, value }), chunk.key, block, 0, id);
}

test("a rogue member's forgeries are all refused and a later real put is acknowledged correctly", async (t) => {
  t.timeout(120_000);
  const cluster = new Cluster();
  t.teardown(() => cluster.stop());
  const { first, token } = await cluster.ring(3, { wot: false });
  const nodes = cluster.nodes;
  const ids = nodes.map((n) => n.id);
  const owner = nodes[1];

  // The rogue: a fresh key and the network's join token; it never enters the ring.
  const rogueKey = Identity.generate();
  const rogue = await cluster.client(token, { signer: rogueKey });
  const call = (n: { peer: string; id: string }, method: string, params: unknown) =>
    rogue.call({ addr: n.peer, id: n.id }, method, params);
  const refused = async (p: Promise<unknown>, codes: string[], what: string) => {
    const err = await t.throwsAsync(p, undefined, what);
    t.true(codes.includes(CODE(err) ?? ""), `${what}: ${CODE(err)} ${err?.message}`);
  };

  // A chunk the owner will really record later; the rogue tries to claim it first.
  const chunk = chunkOwnedBy(ids, owner.id, (ts) => ({
    source: "urn:dev:kitchen",
    value: { celsius: ts % 40 },
  }));

  // 1. Replicas of a record in an invented block (`abab…`), sent to every node.
  const invented = forgedRecord(rogueKey, chunk, { hash: "ab".repeat(32), height: 1 });
  // 2. A self-signed block on an invented parent, planted first as a copy of the rogue's own branch.
  const orphan = inventedBlock(rogueKey, 1, "cd".repeat(32));
  const inOrphan = forgedRecord(rogueKey, chunk, { hash: orphan.hash, height: 1 });
  // 3. A record naming the real owner as its miner, signed by the rogue.
  const impostor = {
    ...forgedRecord(rogueKey, chunk, { hash: "ef".repeat(32), height: 1 }),
    miner: owner.id,
  };
  for (const n of nodes) {
    await call(n, "ledger.blockCopy", { block: orphan });
    await refused(call(n, "store.replica", { records: [invented] }), ["not_in_branch"], "invented block");
    await refused(call(n, "store.replica", { records: [inOrphan] }), ["not_in_branch"], "orphan block");
    await refused(
      call(n, "store.replica", { records: [impostor] }),
      ["bad_record", "not_in_branch"],
      "impostor",
    );
    t.is(await call(n, "store.get", { key: chunk.key }), null, "no node holds a forged record");
  }

  // 4. A forged approval of the forged transaction, and a forged `verified` notice.
  await refused(
    call(first, "node.approve", { txID: invented.txID }),
    ["not_found", "not_included"],
    "approve",
  );
  const grant = grantChunk(invented);
  const forgedGrant = forgedRecord(rogueKey, grant, { hash: "ab".repeat(32), height: 1 });
  for (const n of nodes) {
    await refused(
      call(n, "flowcoin.verified", { txID: invented.txID, miner: rogueKey.id, grant: forgedGrant }),
      ["bad_notice", "not_found", "bad_params"],
      "forged verified",
    );
  }

  // 5. A flood of invalidation notices: unsigned ones do not parse, signed ones name no held block.
  const sig = rogueKey.sign("x");
  let floodRefused = 0;
  await Promise.all(
    Array.from({ length: 2_000 }, async (_, i) => {
      const n = nodes[i % nodes.length];
      const hash = (i % 2 === 0 ? orphan.hash : i.toString(16).padStart(64, "0")).slice(0, 64);
      await call(n, "ledger.invalidCopy", {
        invalid: { hash, reason: "x".repeat(400) },
        signature: sig,
      }).catch(() => floodRefused++);
    }),
  );
  t.is(floodRefused, 2_000, "every invalidation notice without the miner's signature is refused");
  for (const n of nodes) {
    const dir = join(n.dataDir, "branch-copies");
    const files = await readdir(dir).catch(() => [] as string[]);
    for (const f of files) t.true((await stat(join(dir, f))).size < 64 * 1024, `${f} stayed small`);
  }

  // 6. Admin-only and operator-only methods.
  await refused(call(first, "node.inventory", { credential: "fca1.e30.AAAA" }), ["admin_only"], "inventory");
  await refused(call(first, "node.inventory", {}), ["bad_params"], "inventory without credential");
  await refused(call(owner, "node.condition", { kind: "low_battery" }), ["unknown_method"], "condition");
  t.deepEqual(
    await readdir(join(first.dataDir, "checkpoints")).catch(() => []),
    [],
    "the admin signed nothing",
  );

  // The real put of the same chunk: acknowledged with the real owner and a txID the rogue never saw.
  const { source, timestamp, value } = chunk;
  const put = (await call(nodes[2], "node.put", { source, timestamp, value })) as PutResult;
  t.is(put.owner, owner.id);
  t.not(put.txID, invented.txID);
  t.not(put.txID, inOrphan.txID);
  for (const n of nodes) t.is(((await call(n, "node.get", { key: chunk.key })) as RecordDoc).txID, put.txID);

  // Approval pays the real record, to its real owner, once; the rogue earns nothing anywhere.
  const approved = (await call(first, "node.approve", { txID: put.txID })) as ApproveResult;
  t.like(approved, { verified: true, granted: true, miner: owner.id });
  t.is(await call(owner, "node.balance", {}), 1);
  const grants: RecordDoc[] = [];
  for (const n of nodes) {
    const page = (await call(n, "store.query", {
      from: 0,
      to: Date.now() + 60_000,
      source: FLOWCOIN_SOURCE,
    })) as {
      records: RecordDoc[];
    };
    grants.push(...page.records);
  }
  t.true(grants.length > 0, "the real grant is in the ledger");
  t.false(
    grants.some((g) => (g.value as { to?: string }).to === rogueKey.id),
    "no grant names the rogue",
  );
  await cluster.waitForRing(token);
  for (const n of nodes) t.is(n.child.exitCode, null, "every node is still running");
});
