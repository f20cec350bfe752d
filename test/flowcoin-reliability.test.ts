import test from "ava";
import { tierFor } from "../src/ledger/difficulty.js";
import { LAPTOP_DEFAULTS, parseResources, reliability } from "../src/node/reliability.js";

const grid = [0, 0.1, 0.25, 0.5, 0.75, 0.9, 1];
const coinSteps = [0, 1, 2, 5, 10, 50, 1000];

test("more coins never make mining harder", (t) => {
  for (const battery of grid) {
    for (const signal of grid) {
      for (let i = 1; i < coinSteps.length; i++) {
        const res = { battery, bandwidth: 1, signal };
        t.true(reliability(coinSteps[i], res) >= reliability(coinSteps[i - 1], res));
        // Tier 0 is the hardest: a higher tier index is an easier target.
        t.true(tierFor(reliability(coinSteps[i], res)) >= tierFor(reliability(coinSteps[i - 1], res)));
      }
    }
  }
});

test("better resources never make mining harder", (t) => {
  for (const coins of coinSteps) {
    for (const key of ["battery", "bandwidth", "signal"] as const) {
      for (let i = 1; i < grid.length; i++) {
        const lo = { ...LAPTOP_DEFAULTS, battery: 0.5, [key]: grid[i - 1] };
        const hi = { ...LAPTOP_DEFAULTS, battery: 0.5, [key]: grid[i] };
        t.true(reliability(coins, hi) >= reliability(coins, lo), `${key} ${grid[i - 1]} -> ${grid[i]}`);
        t.true(tierFor(reliability(coins, hi)) >= tierFor(reliability(coins, lo)));
      }
    }
  }
});

test("a fresh laptop mines at the easiest tier; a starving device is pushed to harder ones", (t) => {
  t.is(tierFor(reliability(0, LAPTOP_DEFAULTS)), 4);
  t.true(tierFor(reliability(0, { battery: 0.05, bandwidth: 0.2, signal: 0.2 })) < 4);
  t.is(reliability(0, { battery: 0, bandwidth: 1, signal: 1 }), 0);
});

test("reliability stays in [0, 1] for any input, junk included", (t) => {
  for (const coins of [-5, 0, 3, Infinity, NaN]) {
    for (const v of [-1, 0, 0.5, 2, NaN]) {
      const r = reliability(coins, { battery: v, bandwidth: v, signal: v });
      t.true(r >= 0 && r <= 1, `coins ${coins} value ${v}`);
    }
  }
});

test("resource reports are validated and partial", (t) => {
  t.deepEqual(parseResources({ battery: 0.3 }, LAPTOP_DEFAULTS), { battery: 0.3, bandwidth: 1, signal: 1 });
  t.throws(() => parseResources({ battery: 1.5 }, LAPTOP_DEFAULTS), {
    message: /battery must be a number from 0 to 1/,
  });
  t.throws(() => parseResources({ cpu: 1 }, LAPTOP_DEFAULTS), { message: /unknown resource 'cpu'/ });
  t.throws(() => parseResources("full", LAPTOP_DEFAULTS), { message: /must be an object/ });
});
