import test from "ava";
import {
  meetsTarget,
  reliabilityProbability,
  targetFor,
  targetForTier,
  tierFor,
  expectedHashes,
} from "../src/ledger/difficulty.js";
import { Miner, SLICE_HASHES } from "../src/ledger/miner.js";

const template = (target: string) => ({
  height: 1,
  prev: "0".repeat(64),
  miner: "a".repeat(64),
  target,
  sealedRoot: "0".repeat(64),
});

test("higher reliability never makes mining harder", (t) => {
  let prevTier = -1;
  let prevP = -1;
  for (let i = 0; i <= 1000; i++) {
    const r = i / 1000;
    const tier = tierFor(r);
    const p = reliabilityProbability(r);
    t.true(tier >= prevTier, `tier drops at r=${r}`);
    t.true(p >= prevP, `probability drops at r=${r}`);
    t.true(BigInt("0x" + targetFor(r)) >= BigInt("0x" + (prevTier < 0 ? "0" : targetForTier(prevTier))));
    prevTier = tier;
    prevP = p;
  }
});

test("the five tiers of Listing 2 are all reachable, easiest at full reliability", (t) => {
  t.is(tierFor(1), 4);
  t.is(targetFor(1), "f".repeat(64));
  t.is(tierFor(0), 0);
  t.is(targetFor(0), "0000" + "f".repeat(60));
  const seen = new Set<number>();
  for (let i = 0; i <= 100; i++) seen.add(tierFor(i / 100));
  t.deepEqual([...seen].sort(), [0, 1, 2, 3, 4]);
  // Out-of-range or broken reliability is treated as the worst case, not the best.
  t.is(tierFor(NaN), 0);
  t.is(tierFor(-3), 0);
  t.is(tierFor(7), 4);
  t.is(expectedHashes(targetForTier(2)), 256);
});

test("targets are compared as numbers, not strings", (t) => {
  // As strings "f" > "0fff..." but as a 256-bit number 0x0f... is far bigger than 0x00...0f.
  const small = "0".repeat(63) + "f";
  t.true(meetsTarget(small, "0f" + "f".repeat(62)));
  t.false(meetsTarget("1" + "0".repeat(63), "0f" + "f".repeat(62)));
  t.true(meetsTarget("0f" + "f".repeat(62), "0f" + "f".repeat(62)));
  t.true(meetsTarget("0".repeat(64), "0000" + "f".repeat(60)));
  t.true(meetsTarget("0000A" + "0".repeat(59).toLowerCase(), "0000" + "f".repeat(60)));
});

test("the miner finds a block meeting the target", async (t) => {
  const target = "000" + "f".repeat(61);
  const found = await new Promise<{ hash: string; nonce: number }>((resolve) => {
    const m = new Miner({
      hashesPerSecond: 1e9,
      template: () => template(target),
      found: (h, hash) => {
        m.stop();
        resolve({ hash, nonce: h.nonce });
      },
    });
    m.start();
  });
  t.true(meetsTarget(found.hash, target));
  t.true(found.hash.startsWith("000"));
});

test("a miner hashing flat out still lets timers run", async (t) => {
  const m = new Miner({
    hashesPerSecond: 1e9,
    // Unreachable target: the miner never stops on its own.
    template: () => template("0".repeat(64)),
    found: () => {},
  });
  t.teardown(() => m.stop());
  m.start();
  // Sample the hash count from timer callbacks: if slices did not yield, every sample would see
  // the same count (or the loop would never get here at all).
  const seen = new Set<number>();
  while (m.hashes < 5 * SLICE_HASHES) {
    await new Promise((r) => setTimeout(r, 1));
    seen.add(m.hashes);
  }
  t.true(seen.size >= 3, `timers saw ${seen.size} distinct hash counts`);
});

test("the miner leaves at least minIntervalMs between blocks", async (t) => {
  const found: number[] = [];
  const m = new Miner({
    hashesPerSecond: 1e9,
    minIntervalMs: 100,
    // Every hash meets this target: without the interval, a block per hash.
    template: () => template("f".repeat(64)),
    found: () => found.push(performance.now()),
  });
  const started = performance.now();
  m.start();
  await new Promise((r) => setTimeout(r, 350));
  m.stop();
  const elapsed = performance.now() - started;
  t.true(found.length >= 1 && found.length <= elapsed / 100 + 1, `${found.length} blocks in ${elapsed} ms`);
  for (let i = 1; i < found.length; i++)
    t.true(found[i] - found[i - 1] >= 99, `gap ${found[i] - found[i - 1]}`);
});

test("the miner respects its hash rate", async (t) => {
  let hashes = 0;
  const m = new Miner({
    hashesPerSecond: 50,
    template: () => template("0".repeat(64)),
    found: () => {},
  });
  m.start();
  const started = performance.now();
  await new Promise((r) => setTimeout(r, 300));
  m.stop();
  hashes = m.hashes;
  const elapsed = (performance.now() - started) / 1000;
  // Token bucket: at most rate * elapsed plus the initial tenth-of-a-second allowance.
  t.true(hashes <= 50 * elapsed + 6, `${hashes} hashes in ${elapsed}s`);
  t.true(hashes >= 1);
});
