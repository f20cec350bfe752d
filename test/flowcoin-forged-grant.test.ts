// A member that writes a grant of its own making straight into its own branch (the one place no
// other node checks what it records) does not earn a coin: a balance counts a grant only once the
// transaction it pays for checks out.
import test from "ava";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { Identity } from "../src/ledger/identity.js";
import { Ledger, type RecordDoc } from "../src/ledger/ledger.js";
import { FLOWCOIN_SOURCE } from "../src/node/approval.js";
import type { PutResult } from "../src/node/api.js";
import { Cluster } from "./helpers/cluster.js";
import { chunkOwnedBy } from "./helpers/owned-chunk.js";

test("a grant a node recorded for itself without an approved transaction earns nothing", async (t) => {
  const cluster = new Cluster();
  t.teardown(() => cluster.stop());
  const { first, token } = await cluster.ring(3, { wot: false });
  const client = await cluster.client(token);
  const cheat = cluster.nodes[1];
  const others = cluster.nodes.filter((n) => n !== cheat);

  // Offline, with its own key: a grant to itself for a transaction that never happened, its
  // timestamp ground until its key falls in the cheat's own range, as a cheat would.
  await cluster.kill(cheat, "SIGTERM");
  const ids = cluster.nodes.map((n) => n.id);
  const forged = chunkOwnedBy(ids, cheat.id, () => ({
    source: FLOWCOIN_SOURCE,
    value: { "@type": "FlowcoinGrant", to: cheat.id, txID: "cd".repeat(32), amount: 1 },
  }));
  const descriptor = JSON.parse(await readFile(join(cheat.dataDir, "network.json"), "utf8"));
  const ledger = await Ledger.open({
    dir: join(cheat.dataDir, "ledger"),
    identity: await Identity.loadOrCreate(cheat.dataDir),
    network: descriptor,
  });
  const { source, timestamp, value } = forged;
  const recorded = await ledger.put({ source, timestamp, value });
  await ledger.close();
  t.is(recorded.key, forged.key);

  const back = await cluster.start({ dataDir: cheat.dataDir, join: first.peer, token, wot: false });
  t.is(back.id, cheat.id);
  await cluster.waitForRing(token, [...others, back]);
  const grants = (
    (await client.call({ addr: back.peer }, "store.query", {
      from: 0,
      to: Date.now() + 60_000,
      source: FLOWCOIN_SOURCE,
    })) as { records: RecordDoc[] }
  ).records;
  t.true(
    grants.some((g) => g.key === forged.key),
    "the forged grant is in the ledger, signed",
  );
  t.is(await client.call({ addr: back.peer }, "node.balance", {}), 0);

  // A real approval of one of its transactions still pays it, once.
  const real = chunkOwnedBy(ids, back.id, (ts) => ({ source: "urn:dev:m", value: { ts } }));
  const tx = (await client.call({ addr: first.peer }, "node.put", {
    source: real.source,
    timestamp: real.timestamp,
    value: real.value,
  })) as PutResult;
  t.is(tx.owner, back.id);
  await client.call({ addr: others[0].peer }, "node.approve", { txID: tx.txID });
  t.is(await client.call({ addr: back.peer }, "node.balance", {}), 1);
});
