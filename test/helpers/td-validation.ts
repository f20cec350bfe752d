// Runs the W3C TD checks offline: the Thingweb Playground validator (TD 1.1 JSON Schema, defaults,
// JSON-LD) and its assertion tests, with every JSON-LD context served from local files so nothing
// ever touches the network.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { FLOWCHAIN_CONTEXT_URL } from "../../src/wot/thing-model.js";

const require = createRequire(import.meta.url);
const ROOT = new URL("../../../", import.meta.url);

/** Context URL -> local file (fixtures copied from ../shared/w3c-contexts, and the project's own). */
const CONTEXT_FILES: Record<string, string> = {
  "https://www.w3.org/2022/wot/td/v1.1": "test/fixtures/w3c-contexts/td-context-1.1.jsonld",
  "https://www.w3.org/2019/wot/td/v1": "test/fixtures/w3c-contexts/td-context-1.0.jsonld",
  [FLOWCHAIN_CONTEXT_URL]: "td/flowchain-context.jsonld",
};

export interface RemoteDocument {
  contextUrl: null;
  documentUrl: string;
  document: unknown;
}

/** A jsonld documentLoader that serves only the local contexts and refuses everything else. */
export async function offlineDocumentLoader(url: string): Promise<RemoteDocument> {
  const file = CONTEXT_FILES[url.replace(/\/$/, "")] ?? CONTEXT_FILES[url];
  if (file === undefined) throw new Error(`offline documentLoader: no local copy of ${url}`);
  return {
    contextUrl: null,
    documentUrl: url,
    document: JSON.parse(readFileSync(new URL(file, ROOT), "utf8")),
  };
}

interface JsonldModule {
  documentLoader: unknown;
}

/** The playground uses its own nested copy of jsonld; give that copy (and ours) the offline loader. */
export function installOfflineLoader(): void {
  const coreRequire = createRequire(require.resolve("@thing-description-playground/core"));
  for (const jsonld of [coreRequire("jsonld") as JsonldModule, require("jsonld") as JsonldModule]) {
    jsonld.documentLoader = offlineDocumentLoader;
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
): Promise<{ report: ValidatorReport; log: string[] }> {
  installOfflineLoader();
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
