import test from "ava";
import { addPow2, between, betweenRightIncl, distance, fromBig, isId, toBig } from "../src/chord/id.js";

const id = (n: bigint) => fromBig(n);
const MAX = (1n << 256n) - 1n;

test("toBig/fromBig round-trip, pad to 64 hex and reduce mod 2^256", (t) => {
  t.is(fromBig(0n), "0".repeat(64));
  t.is(fromBig(MAX), "f".repeat(64));
  t.is(fromBig(MAX + 1n), "0".repeat(64));
  t.is(fromBig(-1n), "f".repeat(64));
  const h = "0123456789abcdef".repeat(4);
  t.is(fromBig(toBig(h)), h);
});

test("toBig and isId reject anything but 64 lowercase hex chars", (t) => {
  for (const bad of [
    "",
    "abc",
    "A".repeat(64),
    "g".repeat(64),
    "0".repeat(63),
    "0".repeat(65),
    " " + "0".repeat(63),
  ]) {
    t.false(isId(bad), bad);
    t.throws(() => toBig(bad), { instanceOf: RangeError });
  }
  t.false(isId(42));
  t.false(isId(null));
});

test("between: ordinary open interval excludes both ends", (t) => {
  t.true(between(id(10n), id(11n), id(20n)));
  t.true(between(id(10n), id(19n), id(20n)));
  t.false(between(id(10n), id(10n), id(20n)));
  t.false(between(id(10n), id(20n), id(20n)));
  t.false(between(id(10n), id(5n), id(20n)));
  t.false(between(id(10n), id(25n), id(20n)));
});

test("between: wrap-around interval (a > b) goes through zero", (t) => {
  const a = id(MAX - 5n);
  const b = id(5n);
  t.true(between(a, id(MAX), b));
  t.true(between(a, id(0n), b));
  t.true(between(a, id(4n), b));
  t.false(between(a, id(5n), b));
  t.false(between(a, a, b));
  t.false(between(a, id(100n), b));
  t.false(between(a, id(MAX - 6n), b));
});

test("between with equal endpoints is the whole circle minus that point (one-node ring)", (t) => {
  const a = id(1234n);
  t.false(between(a, a, a));
  t.true(between(a, id(0n), a));
  t.true(between(a, id(1235n), a));
  t.true(between(a, id(MAX), a));
});

test("betweenRightIncl includes b only; equal endpoints cover every id", (t) => {
  t.true(betweenRightIncl(id(10n), id(20n), id(20n)));
  t.false(betweenRightIncl(id(10n), id(10n), id(20n)));
  t.true(betweenRightIncl(id(MAX), id(0n), id(0n)));
  t.true(betweenRightIncl(id(MAX - 1n), id(MAX), id(3n)));
  const a = id(77n);
  t.true(betweenRightIncl(a, a, a));
  t.true(betweenRightIncl(a, id(76n), a));
  t.true(betweenRightIncl(a, id(78n), a));
});

test("addPow2 adds 2^i modulo 2^256 and checks the index", (t) => {
  t.is(addPow2(id(0n), 0), id(1n));
  t.is(addPow2(id(0n), 255), id(1n << 255n));
  t.is(addPow2(id(MAX), 0), id(0n));
  t.is(addPow2(id(1n << 255n), 255), id(0n));
  t.throws(() => addPow2(id(0n), 256), { instanceOf: RangeError });
  t.throws(() => addPow2(id(0n), -1), { instanceOf: RangeError });
  t.throws(() => addPow2(id(0n), 1.5), { instanceOf: RangeError });
});

test("distance is clockwise and wraps", (t) => {
  t.is(distance(id(10n), id(15n)), 5n);
  t.is(distance(id(15n), id(10n)), (1n << 256n) - 5n);
  t.is(distance(id(MAX), id(0n)), 1n);
  t.is(distance(id(3n), id(3n)), 0n);
});
