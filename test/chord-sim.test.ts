// The simulation's own invariants at a small size (figures are the benchmark's job, not a test's):
// no wrong owners on a converged ring, and the ring repairs itself after a 25% crash while
// lookups keep returning the right owner; split in two rings by a partition, one ring after the heal.
import test from "ava";
import { runSim, runSplitHeal } from "../bench/sim.js";

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

test("simulation: 48 nodes split in two halves become two rings, and one ring again after the heal", async (t) => {
  const res = await runSplitHeal(48, { seed: 5, partitionRounds: 30, lookups: 300 });
  t.true(res.splitRoundsToTwoRings > 0, "each half repaired into its own ring");
  t.true(
    res.healRoundsOneRing > 0 && res.healRoundsOneRing <= 40,
    `one ring ${res.healRoundsOneRing} rounds after the heal`,
  );
  t.true(res.healRoundsSuccessors > 0 && res.healRoundsSuccessors <= res.healRoundsOneRing);
  t.is(res.wrongOwnersAfterHeal, 0);
});
