// Worker side of SignerPool: signs batches of record signing strings with the node key it was
// started with.
import { createPrivateKey, sign } from "node:crypto";
import { parentPort, workerData } from "node:worker_threads";

const key = createPrivateKey({ key: Buffer.from(workerData as Uint8Array), format: "der", type: "pkcs8" });

parentPort?.on("message", (m: { id: number; data: string[] }) => {
  const sigs = m.data.map((d) => sign(null, Buffer.from(d), key).toString("hex"));
  parentPort!.postMessage({ id: m.id, sigs });
});
