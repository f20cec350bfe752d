// The bindings' cost: puts through HTTP and CoAP next to the same node's direct put, in one run,
// and event delivery over CoAP Observe under a steady load (notifications received / emitted).
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import * as coap from "coap";
import type { RecordDoc } from "../src/node/api.js";
import { silentLogger } from "../src/log.js";
import { FlowchainNode } from "../src/node/flowchain-node.js";
import { startThing } from "../src/wot/thing-server.js";
import { coapRequest } from "../test/helpers/coap-request.js";

function stats(latencies: number[], seconds: number) {
  const s = [...latencies].sort((a, b) => a - b);
  const at = (p: number) => +s[Math.min(s.length - 1, Math.floor(p * s.length))].toFixed(3);
  return { perSecond: Math.round(latencies.length / seconds), p50Ms: at(0.5), p99Ms: at(0.99) };
}

async function timed(n: number, put: (i: number) => Promise<unknown>) {
  const lat: number[] = [];
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const s = performance.now();
    await put(i);
    lat.push(performance.now() - s);
  }
  return stats(lat, (performance.now() - t0) / 1000);
}

export async function benchWot(n = 2000): Promise<Record<string, number>> {
  const dir = await mkdtemp(join(tmpdir(), "flowchain-bench-wot-"));
  const node = await FlowchainNode.start({ dataDir: dir, host: "127.0.0.1", port: 0, log: silentLogger });
  const thing = await startThing(node, { host: "127.0.0.1", httpPort: 0, coapPort: 0, wsPort: 0 });
  try {
    const href = (kind: "actions" | "events", name: string, scheme: string) =>
      (thing.td[kind] as Record<string, { forms: { href: string }[] }>)[name].forms.find((f) =>
        f.href.startsWith(scheme),
      )!.href;
    // Each put carries the device credential the node wrote, as a deployed sensor's would.
    const device = (await readFile(join(dir, "device-credential"), "utf8")).trim();
    const httpPut = href("actions", "put", "http:");
    const coapPut = `${href("actions", "put", "coap:")}?access_token=${device}`;
    const direct = await timed(n, (i) => node.put({ value: { i }, source: "bench-direct" }));
    const http = await timed(n, async (i) => {
      const r = await fetch(httpPut, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${device}` },
        body: JSON.stringify({ value: { i }, source: "bench-http" }),
      });
      if (r.status !== 200) throw new Error(`HTTP ${r.status}`);
      await r.arrayBuffer();
    });
    const overCoap = await timed(n, async (i) => {
      const r = await coapRequest(coapPut, "POST", { value: { i }, source: "bench-coap" });
      if (r.code !== "2.05" && r.code !== "2.04") throw new Error(`CoAP ${r.code}`);
    });

    // Event delivery: one CoAP observer of `transaction` while puts run at a steady pace.
    const events = new URL(href("events", "transaction", "coap:"));
    let received = 0;
    const req = coap.request({
      hostname: events.hostname,
      port: Number(events.port),
      pathname: events.pathname,
      observe: true,
    });
    const registered = new Promise<coap.IncomingMessage>((resolve) => req.on("response", resolve));
    req.end();
    // The registration is acknowledged empty and the first event is its response (RFC 7641 §4.2):
    // put until that event arrives, then count from there.
    let res: coap.IncomingMessage | undefined;
    for (let w = 0; res === undefined; w++) {
      const put = node.put({ value: { w }, source: "bench-events-warmup" }).then(() => undefined);
      res = await Promise.race([registered, put]);
    }
    res.on("data", (d: Buffer) => {
      if ((JSON.parse(d.toString()) as { source?: string }).source === "bench-events") received++;
    });
    let emitted = 0;
    node.on("transaction", (doc: RecordDoc) => {
      if (doc.source === "bench-events") emitted++;
    });
    for (let i = 0; i < 1000; i++) await node.put({ value: { i }, source: "bench-events" });
    const deadline = Date.now() + 5000;
    while (received < emitted && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    // The observe stream ends the relation (RST on the next notification).
    (res as unknown as { close(): void }).close();
    return {
      directPutsPerSecond: direct.perSecond,
      directP50Ms: direct.p50Ms,
      directP99Ms: direct.p99Ms,
      httpPutsPerSecond: http.perSecond,
      httpP50Ms: http.p50Ms,
      httpP99Ms: http.p99Ms,
      coapPutsPerSecond: overCoap.perSecond,
      coapP50Ms: overCoap.p50Ms,
      coapP99Ms: overCoap.p99Ms,
      httpCostRatio: +(direct.perSecond / http.perSecond).toFixed(2),
      coapCostRatio: +(direct.perSecond / overCoap.perSecond).toFixed(2),
      eventsEmitted: emitted,
      eventsReceived: received,
      eventDeliveryRatio: +(received / Math.max(1, emitted)).toFixed(4),
    };
  } finally {
    await thing.stop();
    await node.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  const r = await benchWot();
  console.log(process.argv.includes("--json") ? JSON.stringify(r) : r);
}
