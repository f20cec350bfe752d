// Durability: every record a node acknowledged survives kill -9, and the restart detects the
// unclean shutdown and invalidates the block that was in use (paper section 4.1).
import test from "ava";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { createInterface } from "node:readline";
import { Identity } from "../src/ledger/identity.js";
import { Ledger } from "../src/ledger/ledger.js";
import { verifyDataDir } from "../src/ledger/verify.js";
import { NET, tempDir } from "./ledger-helpers.js";

const LEDGER_JS = new URL("../src/ledger/ledger.js", import.meta.url).href;
const IDENTITY_JS = new URL("../src/ledger/identity.js", import.meta.url).href;

// Eight concurrent writers; a line per acknowledged record. Pipes to the parent are synchronous
// on Linux, so a printed ack is in the pipe before any later instruction runs.
const CHILD = `
import { Ledger } from ${JSON.stringify(LEDGER_JS)};
import { Identity } from ${JSON.stringify(IDENTITY_JS)};
const [dir, net] = [process.env.FC_DIR, JSON.parse(process.env.FC_NET)];
const identity = await Identity.loadOrCreate(dir);
const ledger = await Ledger.open({ dir, identity, network: net, hashesPerSecond: 200000, reliability: () => 0.4 });
let n = 0;
const writer = async () => {
  for (;;) {
    const i = n++;
    const r = await ledger.put({ source: "crash", timestamp: 1700000000000 + i, value: { i } });
    process.stdout.write("ack " + r.key + " " + r.block + "\\n");
  }
};
for (let k = 0; k < 8; k++) writer();
`;

test("acknowledged records survive kill -9; the restart invalidates the block in use", async (t) => {
  const dir = await tempDir(t);
  const child = spawn(process.execPath, ["--input-type=module", "-e", CHILD], {
    env: { ...process.env, FC_DIR: dir, FC_NET: JSON.stringify(NET) },
    stdio: ["ignore", "pipe", "inherit"],
  });
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  });
  const exited = once(child, "exit");
  const acked = new Map<string, string>();
  const lines = createInterface({ input: child.stdout! });
  // Keep reading after the kill: acks already in the pipe when the signal landed count too.
  for await (const line of lines) {
    const [word, key, block] = line.split(" ");
    if (word === "ack" && key?.length === 64 && block?.length === 64) acked.set(key, block);
    if (acked.size >= 3000 && child.signalCode === null && !child.killed) child.kill("SIGKILL");
  }
  const [, signal] = await exited;
  t.is(signal, "SIGKILL");

  const identity = await Identity.loadOrCreate(dir);
  const ledger = await Ledger.open({ dir, identity, network: NET, mine: false });
  const inUse = ledger.head();
  t.is(ledger.validBlock(), null, "the block in use at the crash is no longer valid");
  t.is(await ledger.isInvalid(inUse.hash), "unclean shutdown");
  let missing = 0;
  for (const [key, block] of acked) {
    const r = await ledger.getByKey(key);
    if (r === undefined || r.block !== block) missing++;
  }
  t.is(missing, 0, `${missing} of ${acked.size} acknowledged records lost`);
  t.true((await ledger.info()).records >= acked.size);
  await ledger.close();
  // The crashed branch is still consistent: every stored record verifies and blocks seal them.
  const report = await verifyDataDir(dir);
  t.true(report.ok, JSON.stringify(report.firstBad));
  t.true(report.records >= acked.size);

  // A clean restart after that invalidates nothing more.
  const again = await Ledger.open({ dir, identity, network: NET, mine: false });
  t.is(again.head().hash, inUse.hash);
  t.is(again.validBlock(), null);
  await again.close();
});
