// Acknowledged, replicated puts across three node processes on loopback: latency of one put at a
// time, and aggregate throughput with a window of puts in flight.
import { pathToFileURL } from "node:url";
import { Cluster } from "../test/helpers/cluster.js";
import { pool } from "../test/helpers/pool.js";

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

/** The same cluster run with plain peer links (`--insecure-peers`) and with TLS 1.3 (the default), one after the other. */
export async function benchCluster(opts = { nodes: 3, sequential: 2000, pipelined: 20000, window: 128 }) {
  const plain = await runCluster(opts, false);
  const tls = await runCluster(opts, true);
  return {
    ...plain,
    tls,
    tlsToPlainAggregate: +(tls.putsPerSecondAggregate / plain.putsPerSecondAggregate).toFixed(2),
    tlsToPlainP50: +(tls.putP50Ms / plain.putP50Ms).toFixed(2),
  };
}

async function runCluster(
  opts: { nodes: number; sequential: number; pipelined: number; window: number },
  tls: boolean,
) {
  const cluster = new Cluster();
  const args = tls ? [] : ["--insecure-peers"];
  try {
    const first = await cluster.start({ wot: false, args });
    const token = await cluster.token(first);
    for (let i = 1; i < opts.nodes; i++) await cluster.start({ join: first.peer, token, wot: false, args });
    const clients = await Promise.all(cluster.nodes.map(() => cluster.client(token, { tls })));
    // Let the ring settle so every put pays its steady-state routing cost, not the join's.
    await new Promise((r) => setTimeout(r, 3000));
    const latencies: number[] = [];
    for (let i = 0; i < opts.sequential; i++) {
      const t0 = process.hrtime.bigint();
      await clients[0].call({ addr: first.peer }, "node.put", { value: { i }, source: "bench-seq" });
      latencies.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
    latencies.sort((a, b) => a - b);
    const t0 = performance.now();
    // Spread the load over every node, as many sensors would.
    await pool(opts.pipelined, opts.window, (i) => {
      const n = i % cluster.nodes.length;
      return clients[n].call({ addr: cluster.nodes[n].peer }, "node.put", {
        value: { i },
        source: `bench-${n}`,
      });
    });
    const seconds = (performance.now() - t0) / 1000;
    return {
      clusterNodes: opts.nodes,
      putP50Ms: +percentile(latencies, 50).toFixed(3),
      putP99Ms: +percentile(latencies, 99).toFixed(3),
      putsPerSecondSequential: Math.round(opts.sequential / (latencies.reduce((a, b) => a + b, 0) / 1000)),
      putsPerSecondAggregate: Math.round(opts.pipelined / seconds),
    };
  } finally {
    await cluster.stop();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  const r = await benchCluster();
  console.log(process.argv.includes("--json") ? JSON.stringify(r) : r);
}
