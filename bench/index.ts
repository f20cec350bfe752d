// `npm run bench`: every figure in one run, so ratios compare numbers taken on the same machine
// under the same load. `--json` prints one JSON object for other tools.
import { benchCluster } from "./cluster.js";
import { benchLedger } from "./ledger.js";
import { benchNet } from "./net.js";
import { benchPartition } from "./partition.js";
import { benchProofs } from "./proofs.js";
import { runSim, runSplitHeal } from "./sim.js";
import { benchWot } from "./wot.js";

const json = process.argv.includes("--json");
const sections: [string, () => Promise<unknown>][] = [
  ["ledger", () => benchLedger()],
  ["net", () => benchNet()],
  ["cluster", () => benchCluster()],
  ["partition", () => benchPartition()],
  ["wot", () => benchWot()],
  ["proofs", () => benchProofs()],
  ["sim", () => runSim(256)],
  ["sim-split", () => runSplitHeal(256)],
];
const only = process.argv
  .find((a) => a.startsWith("--only="))
  ?.slice(7)
  .split(",");

const out: Record<string, unknown> = {};
for (const [name, run] of sections) {
  if (only && !only.includes(name)) continue;
  if (!json) process.stderr.write(`running ${name}...\n`);
  try {
    out[name] = await run();
  } catch (err) {
    out[name] = { error: String(err) };
  }
  if (!json) console.log(name, out[name]);
}
if (json) console.log(JSON.stringify(out));
