// The simulation's own invariants at a small size (figures are the benchmark's job, not a test's):
// no wrong owners on a converged ring, and the ring repairs itself after a 25% crash while
// lookups keep returning the right owner.
import test from "ava";
import { runSim } from "../bench/sim.js";

test("simulation: 48 nodes, exact owners, repair after 25% crash with correct lookups", async (t) => {
  const res = await runSim(48, { lookups: 500, seed: 5 });
  t.is(res.nodes, 48);
  t.is(res.wrongOwners, 0);
  t.is(res.failedLookups, 0);
  t.true(res.meanHops >= 1, "lookups from a non-owner contact at least the owner");
  t.true(res.p99Hops >= Math.ceil(res.meanHops));
  t.true(res.repairRoundsSuccessors >= 1 && res.repairRoundsSuccessors <= 2);
  t.true(res.repairRoundsLists >= 1 && res.repairRoundsLists <= 8 + 2);
  t.is(res.lookupsCorrectDuringRepair, 1);
});
