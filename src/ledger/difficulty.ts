// Difficulty control (paper section 3.2, Listing 2). A node's reliability r in [0, 1] (battery,
// coins, link quality: whatever the caller's reliability function measures) is turned into a
// probability through the normal density, and the probability picks one of five tiers of leading
// hex zeros:
//
//   p(r) = exp(-(1 - r)^2 / (2 * SIGMA^2))      (the N(1, SIGMA^2) density scaled so p(1) = 1)
//
//   p in [0.0, 0.2) -> 4 leading zeros  (hardest)      r = 0   -> p ~ 0.135 -> 4 zeros
//   p in [0.2, 0.4) -> 3                               r = 0.5 -> p ~ 0.607 -> 1 zero
//   p in [0.4, 0.6) -> 2                               r >= 0.67 -> p >= 0.8 -> 0 zeros
//   p in [0.6, 0.8) -> 1
//   p in [0.8, 1.0] -> 0                 (easiest)
//
// The density is centred on full reliability so that p is monotone in r: a more reliable node is
// never given a harder target. Targets are 256-bit numbers ("0"*z followed by "f"s) and a block
// hash qualifies when hash <= target, compared as BigInt (string comparison breaks on length/case).
export const SIGMA = 0.5;
export const TIER_ZEROS = [4, 3, 2, 1, 0] as const;

export function clampReliability(r: number): number {
  if (!Number.isFinite(r)) return 0;
  return Math.min(1, Math.max(0, r));
}

export function reliabilityProbability(r: number): number {
  const d = 1 - clampReliability(r);
  return Math.exp(-(d * d) / (2 * SIGMA * SIGMA));
}

/** Tier index 0 (hardest) .. 4 (easiest), as in Listing 2. */
export function tierFor(r: number): number {
  const p = reliabilityProbability(r);
  return Math.min(4, Math.floor(p * 5));
}

export function targetForTier(tier: number): string {
  const zeros = TIER_ZEROS[tier];
  if (zeros === undefined) throw new RangeError(`no difficulty tier ${tier}`);
  return "0".repeat(zeros) + "f".repeat(64 - zeros);
}

export function targetFor(r: number): string {
  return targetForTier(tierFor(r));
}

export function meetsTarget(hashHex: string, targetHex: string): boolean {
  return BigInt("0x" + hashHex) <= BigInt("0x" + targetHex);
}

/** Mean number of hashes to find a block at this target. */
export function expectedHashes(targetHex: string): number {
  return Number(2n ** 256n / (BigInt("0x" + targetHex) + 1n));
}
