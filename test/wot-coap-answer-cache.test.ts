// The cache of action answers that later Block2 blocks are served from: bounded in entries and
// bytes (oldest out first), expired after EXCHANGE_LIFETIME, and the Block2 option read as RFC 7959.
import test from "ava";
import { CoapAnswerCache, requestedBlock } from "../src/wot/coap-answer-cache.js";

test("answers expire, and the cache keeps at most 256 of them, dropping the oldest", (t) => {
  let now = 0;
  const cache = new CoapAnswerCache(() => now);
  const answer = (n: number) => ({ payload: Buffer.alloc(2000, n), type: "application/json" });
  for (let i = 0; i < 300; i++) cache.put(`k${i}`, answer(i));
  t.is(cache.get("k0"), undefined);
  t.is(cache.get("k43"), undefined);
  t.is(cache.get("k44")?.payload[0], 44);
  t.is(cache.get("k299")?.payload[0], 299 % 256);
  cache.put("k299", answer(7));
  t.is(cache.get("k299")?.payload[0], 7, "a new answer replaces the old one");
  now = 247_001;
  t.is(cache.get("k299"), undefined, "expired");
});

test("the requested block is read from the Block2 option: number and size", (t) => {
  t.deepEqual(requestedBlock(undefined), { num: 0, size: 1024 });
  t.deepEqual(requestedBlock([{ name: "Block2", value: Buffer.from([0x16]) }]), { num: 1, size: 1024 });
  t.deepEqual(requestedBlock([{ name: "Block2", value: Buffer.from([0x01, 0x22]) }]), { num: 18, size: 64 });
  t.deepEqual(requestedBlock([{ name: "Block2", value: Buffer.alloc(4) }]), { num: 0, size: 1024 });
  t.deepEqual(requestedBlock([{ name: "Uri-Path", value: Buffer.from("x") }]), { num: 0, size: 1024 });
});
