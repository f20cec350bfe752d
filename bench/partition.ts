// Partition and heal with real nodes in one process (in-memory transport, real LevelDB): puts/s
// acknowledged on each side while the ring is split 3|2, and seconds from the heal to one ring
// (median of three trials).
import type { FlowchainNode } from "../src/node/flowchain-node.js";
import { MemoryCluster } from "../test/helpers/memory-cluster.js";

const PUT_MS = 3_000;

function ringOf(side: FlowchainNode[]): boolean {
  const sorted = [...side].sort((x, y) => (x.id < y.id ? -1 : 1));
  return sorted.every(
    (n, i) => n.chord.isInRing() && n.ring().successors[0]?.id === sorted[(i + 1) % sorted.length].id,
  );
}

async function until(cond: () => boolean, timeoutMs: number, what = "a condition"): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Puts for PUT_MS through the nodes of one side, 8 at a time; acknowledged puts per second. */
async function putsPerSecond(side: FlowchainNode[], tag: string): Promise<number> {
  let acked = 0;
  let i = 0;
  const end = Date.now() + PUT_MS;
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      while (Date.now() < end) {
        const n = i++;
        await side[n % side.length]
          .put({ value: { n }, source: `urn:bench:${tag}` })
          .then(() => acked++)
          .catch(() => undefined);
      }
    }),
  );
  return Math.round((acked * 1000) / PUT_MS);
}

export async function benchPartition(trials = 3) {
  const heals: number[] = [];
  const sideA: number[] = [];
  const sideB: number[] = [];
  for (let k = 0; k < trials; k++) {
    const cluster = await MemoryCluster.start(5);
    try {
      await cluster.converged();
      const a = cluster.nodes.slice(0, 3);
      const b = cluster.nodes.slice(3);
      cluster.hub.partition([a.map((n) => n.addr), b.map((n) => n.addr)]);
      await until(() => ringOf(a) && ringOf(b), 60_000, "each side to form its own ring");
      const [pa, pb] = await Promise.all([putsPerSecond(a, "a"), putsPerSecond(b, "b")]);
      sideA.push(pa);
      sideB.push(pb);
      const healed = Date.now();
      cluster.hub.heal();
      await cluster.converged(120_000);
      heals.push((Date.now() - healed) / 1000);
    } finally {
      await cluster.stop();
    }
  }
  const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)];
  return {
    nodes: "3|2",
    healToOneRingSecondsMedian: median(heals),
    healToOneRingSeconds: heals,
    putsPerSecondSideOf3: median(sideA),
    putsPerSecondSideOf2: median(sideB),
  };
}
