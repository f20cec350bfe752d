// Seeded PRNG (mulberry32) for the ring simulation and tests: ring layouts, kills and lookup keys
// repeat exactly for a given seed, so a surprising figure can be reproduced. Not for cryptography.
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
