// Runs the W3C TD checks as a stranger would: the Thingweb Playground validator (TD 1.1 JSON Schema,
// defaults, JSON-LD) and its assertion tests, with a JSON-LD loader that knows only the W3C contexts
// (the offline copies in ../shared/w3c-contexts) and either refuses every other URL or fetches it
// over HTTP, so a context resolves only where the document says it is.
import { existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const ROOT = new URL("../../../", import.meta.url);

/** The W3C contexts beside the repository (as in CI), else the copies in test/fixtures. */
const W3C_DIR = [new URL("../shared/w3c-contexts/", ROOT), new URL("test/fixtures/w3c-contexts/", ROOT)].find(
  (d) => existsSync(new URL("td-context-1.1.jsonld", d)),
)!;

/** Context URL -> file in W3C_DIR: the W3C's own contexts and nothing else. */
const W3C_CONTEXTS: Record<string, string> = {
  "https://www.w3.org/2022/wot/td/v1.1": "td-context-1.1.jsonld",
  "https://www.w3.org/2019/wot/td/v1": "td-context-1.0.jsonld",
};

export interface RemoteDocument {
  contextUrl: null;
  documentUrl: string;
  document: unknown;
}

export type DocumentLoader = (url: string) => Promise<RemoteDocument>;

function w3cContext(url: string): RemoteDocument | undefined {
  const file = W3C_CONTEXTS[url.replace(/\/$/, "")];
  if (file === undefined) return undefined;
  return {
    contextUrl: null,
    documentUrl: url,
    document: JSON.parse(readFileSync(new URL(file, W3C_DIR), "utf8")),
  };
}

/** A jsonld documentLoader that serves only the W3C contexts and refuses everything else. */
export async function offlineDocumentLoader(url: string): Promise<RemoteDocument> {
  const doc = w3cContext(url);
  if (doc === undefined) throw new Error(`offline documentLoader: no local copy of ${url}`);
  return doc;
}

/**
 * The W3C contexts from files; any other URL fetched over HTTP (only http: on a loopback address,
 * so a test never leaves the machine) and noted in `fetched`.
 */
export function webDocumentLoader(fetched: string[] = []): DocumentLoader {
  return async (url) => {
    const local = w3cContext(url);
    if (local !== undefined) return local;
    const u = new URL(url);
    if (u.protocol !== "http:" || !["127.0.0.1", "[::1]", "localhost"].includes(u.hostname)) {
      throw new Error(`web documentLoader: ${url} is neither a W3C context nor on this machine`);
    }
    fetched.push(url);
    const res = await fetch(u, {
      headers: { accept: "application/ld+json" },
      signal: AbortSignal.timeout(5000),
    });
    if (!res.ok) throw new Error(`web documentLoader: GET ${url}: HTTP ${res.status}`);
    return { contextUrl: null, documentUrl: url, document: (await res.json()) as unknown };
  };
}

interface JsonldModule {
  documentLoader: unknown;
}

/** The playground uses its own nested copy of jsonld; give that copy (and ours) the loader. */
export function installOfflineLoader(loader: DocumentLoader = offlineDocumentLoader): void {
  const coreRequire = createRequire(require.resolve("@thing-description-playground/core"));
  for (const jsonld of [coreRequire("jsonld") as JsonldModule, require("jsonld") as JsonldModule]) {
    jsonld.documentLoader = loader;
  }
}

export interface ValidatorReport {
  json: string | null;
  schema: string | null;
  defaults: string | null;
  jsonld: string | null;
  additional: string | null;
}

export async function playgroundValidate(
  td: Record<string, unknown>,
  loader: DocumentLoader = offlineDocumentLoader,
): Promise<{ report: ValidatorReport; log: string[] }> {
  installOfflineLoader(loader);
  const { tdValidator } = require("@thing-description-playground/core") as {
    tdValidator(s: string, log: (m: string) => void, o: object): Promise<{ report: ValidatorReport }>;
  };
  const log: string[] = [];
  const { report } = await tdValidator(JSON.stringify(td), (m) => log.push(m), {
    checkDefaults: true,
    checkJsonLd: true,
  });
  return { report, log };
}

export interface AssertionResult {
  ID: string;
  Status: string;
  Comment?: string;
}

export async function playgroundAssertions(td: Record<string, unknown>): Promise<AssertionResult[]> {
  installOfflineLoader();
  const { tdAssertions } = require("@thing-description-playground/assertions") as {
    tdAssertions(
      tds: string[],
      load: (p: string) => Promise<string>,
      log: (m: string) => void,
    ): Promise<unknown>;
  };
  // The assertions look for core's schemas under their own node_modules; npm hoisted core instead.
  const coreDir = require.resolve("@thing-description-playground/core").replace(/index\.js$/, "");
  const loader = async (p: string) =>
    readFileSync(p.replace(/^.*\/node_modules\/@thing-description-playground\/core\//, coreDir), "utf8");
  const out = (await tdAssertions([JSON.stringify(td)], loader, () => undefined)) as AssertionResult[];
  return out;
}
