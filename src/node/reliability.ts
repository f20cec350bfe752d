// Reliability probability (paper 3.2 and 5.4): how dependable this node is, from the coins it
// earned by approval jobs and the resources it reports. It feeds the ledger's difficulty table
// through the normal density (src/ledger/difficulty.ts).
//
//   resources s = (battery * bandwidth * signal)^(1/3)       each in [0, 1]; geometric mean, so one
//                                                            starved resource drags the node down
//   coins     c = coins / (coins + COIN_SCALE)               0 with no coins, -> 1 as coins grow
//   r         = s * (BASE + (1 - BASE) * c)
//
// r is non-decreasing in coins and in every resource, and the tier is non-decreasing in r, so more
// coins or better resources never make mining harder. A laptop on mains power with a good link and
// no coins yet has r = BASE = 0.7, which is already the easiest tier: a fresh node must be able to
// seal blocks.
import { InputError } from "../util/errors.js";

export interface Resources {
  /** Battery level 0..1; 1 on mains power. */
  battery: number;
  /** Available bandwidth relative to what the node needs, 0..1. */
  bandwidth: number;
  /** Radio signal strength 0..1 (1 for a wired link). */
  signal: number;
}

export const LAPTOP_DEFAULTS: Resources = { battery: 1, bandwidth: 1, signal: 1 };
export const BASE = 0.7;
export const COIN_SCALE = 10;

const clamp01 = (x: number) => (Number.isFinite(x) ? Math.min(1, Math.max(0, x)) : 0);

export function reliability(coins: number, res: Resources): number {
  const s = Math.cbrt(clamp01(res.battery) * clamp01(res.bandwidth) * clamp01(res.signal));
  const n = Math.max(0, Number.isFinite(coins) ? coins : 0);
  const c = n / (n + COIN_SCALE);
  return s * (BASE + (1 - BASE) * c);
}

/** Validates a partial resource report; unknown fields and values outside 0..1 are refused. */
export function parseResources(input: unknown, current: Resources): Resources {
  if (typeof input !== "object" || input === null || Array.isArray(input)) {
    throw new InputError("bad_resources", "resources must be an object");
  }
  const next = { ...current };
  for (const [k, v] of Object.entries(input)) {
    if (k !== "battery" && k !== "bandwidth" && k !== "signal") {
      throw new InputError("bad_resources", `unknown resource '${k}'`);
    }
    if (typeof v !== "number" || !Number.isFinite(v) || v < 0 || v > 1) {
      throw new InputError("bad_resources", `${k} must be a number from 0 to 1`);
    }
    next[k] = v;
  }
  return next;
}
