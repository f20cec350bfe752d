// Worker side of SignaturePool: checks a batch of Ed25519 signatures, answers with the index of
// the first bad one (-1 if all verify).
import { parentPort } from "node:worker_threads";
import { Identity } from "./identity.js";

interface Job {
  id: number;
  keys: string[];
  data: string[];
  sigs: string[];
}

parentPort?.on("message", (m: Job) => {
  let bad = -1;
  for (let i = 0; i < m.data.length; i++) {
    if (!Identity.verify(m.keys[i], m.data[i], m.sigs[i])) {
      bad = i;
      break;
    }
  }
  parentPort!.postMessage({ id: m.id, bad });
});
