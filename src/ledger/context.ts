// The ledger's JSON-LD context URL. It is never fetched: jsonld-loader.ts serves it from
// td/ledger-context.jsonld.
export const LEDGER_CONTEXT_URL = "https://flowchain.io/ns/ledger/v1";
