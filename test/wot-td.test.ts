// The node's TD against the W3C TD 1.1 JSON Schema, the Thingweb Playground validator and its
// assertions, and as JSON-LD, all offline (only the W3C contexts are known; the Flowchain terms are
// inlined in the TD).
import test from "ava";
import { createRequire } from "node:module";
import { Ajv } from "ajv";
import jsonld from "jsonld";
import { loadThingModel } from "../src/wot/thing-model.js";
import { startFakeThing } from "./helpers/running-thing.js";
import { offlineDocumentLoader, playgroundAssertions, playgroundValidate } from "./helpers/td-validation.js";

const require = createRequire(import.meta.url);

test("the TD passes the W3C TD 1.1 JSON Schema", async (t) => {
  const { thing } = await startFakeThing(t);
  const schema = require("@thing-description-playground/core/td-schema.json") as { version: string };
  t.regex(schema.version, /^1\.1/);
  // Format checks are the playground's job below; this pins the structural schema on its own.
  const validate = new Ajv({ strict: false, allErrors: true, validateFormats: false }).compile(schema);
  t.true(validate(thing.td), JSON.stringify(validate.errors));
  // A broken TD does fail it, so the check can fail.
  t.false(validate({ ...thing.td, security: 5 }));
});

test("the TD passes the Thingweb Playground validator, JSON-LD included, with no failure", async (t) => {
  const { thing } = await startFakeThing(t);
  const { report, log } = await playgroundValidate(thing.td);
  t.is(report.json, "passed");
  t.is(report.schema, "passed");
  t.is(report.jsonld, "passed");
  // "defaults" warns that optional terms with defaults (readOnly, writeOnly...) are left implicit.
  t.false(Object.values(report).includes("failed"), log.join("\n"));
  t.true(["passed", "warning"].includes(String(report.additional)), log.join("\n"));
});

test("the TD has zero failures in the Thingweb Playground assertions", async (t) => {
  const { thing } = await startFakeThing(t);
  const results = await playgroundAssertions(thing.td);
  t.true(results.length > 100, "the assertion suite ran");
  t.true(results.filter((r) => r.Status === "pass").length > 100);
  t.deepEqual(
    results.filter((r) => r.Status === "fail"),
    [],
  );
});

test("the TD is JSON-LD over the TD 1.1 context and its inlined Flowchain terms, expanded offline", async (t) => {
  const { thing } = await startFakeThing(t);
  const asked: string[] = [];
  const documentLoader = async (url: string) => {
    asked.push(url);
    return offlineDocumentLoader(url);
  };
  const [expanded] = (await jsonld.expand(thing.td as jsonld.JsonLdDocument, {
    documentLoader: documentLoader as never,
  })) as Record<string, unknown>[];
  t.deepEqual(expanded!["@type"], ["https://w3id.org/flowchain/wot#Node"]);
  t.is(expanded!["@id"], thing.td.id);
  t.deepEqual(asked, ["https://www.w3.org/2022/wot/td/v1.1"]);
  const nquads = (await jsonld.toRDF(thing.td as jsonld.JsonLdDocument, {
    format: "application/n-quads",
    documentLoader: documentLoader as never,
  })) as unknown as string;
  t.regex(nquads, /<https:\/\/w3id\.org\/flowchain\/wot#VirtualBlock>/);
  // The loader never goes to the network: an unknown context fails.
  await t.throwsAsync(
    jsonld.expand(
      { "@context": "https://example.org/ctx", a: 1 },
      { documentLoader: documentLoader as never },
    ),
  );
});

test("the Thing Model passes the Playground's TM validator", async (t) => {
  const { tmValidator } = require("@thing-description-playground/core") as {
    tmValidator(
      s: string,
      log: (m: string) => void,
      o: object,
    ): Promise<{ report: Record<string, string | null> }>;
  };
  const { installOfflineLoader } = await import("./helpers/td-validation.js");
  installOfflineLoader();
  const log: string[] = [];
  const { report } = await tmValidator(JSON.stringify(loadThingModel()), (m) => log.push(m), {
    checkDefaults: false,
    checkJsonLd: true,
  });
  t.is(report.schema, "passed", log.join("\n"));
  t.is(report.jsonld, "passed", log.join("\n"));
  t.false(Object.values(report).includes("failed"), log.join("\n"));
});
