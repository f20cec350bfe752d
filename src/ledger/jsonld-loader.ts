// jsonld must never touch the network (nodes run offline, and a remote context could change what a
// signed document means): this loader serves the project's own contexts from td/ and refuses any
// other URL.
import { readFileSync, existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { LEDGER_CONTEXT_FILE, LEDGER_CONTEXT_URL, LEGACY_LEDGER_CONTEXT_URL } from "./context.js";

const contexts = new Map<string, string>([
  [LEDGER_CONTEXT_URL, LEDGER_CONTEXT_FILE],
  [LEGACY_LEDGER_CONTEXT_URL, LEDGER_CONTEXT_FILE],
]);
const cache = new Map<string, unknown>();

/** Makes another td/ context available offline (e.g. the WoT layer's own). */
export function registerContext(url: string, fileInTd: string): void {
  contexts.set(url, fileInTd);
  cache.delete(url);
}

// Works from src/ledger (ts tooling) and dist/src/ledger (compiled): walk up to the folder with td/.
function tdDir(): string {
  let d = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    if (existsSync(join(d, "td", "ledger-context.jsonld"))) return join(d, "td");
    d = dirname(d);
  }
  throw new Error("td/ledger-context.jsonld not found above " + fileURLToPath(import.meta.url));
}

export interface RemoteDocument {
  contextUrl: null;
  documentUrl: string;
  document: unknown;
}

export async function documentLoader(url: string): Promise<RemoteDocument> {
  const file = contexts.get(url);
  if (file === undefined) throw new Error(`jsonld: refusing to load ${url} (only local contexts are served)`);
  let doc = cache.get(url);
  if (doc === undefined) {
    doc = JSON.parse(readFileSync(join(tdDir(), file), "utf8")) as unknown;
    cache.set(url, doc);
  }
  return { contextUrl: null, documentUrl: url, document: doc };
}
