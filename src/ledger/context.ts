// The ledger's JSON-LD context. Documents name it by a relative reference, which JSON-LD resolves
// against the document's own URL (JSON-LD 1.1 context processing, RFC 3986): a record, block or
// checkpoint fetched from any node resolves it at that node, which serves td/ledger-context.jsonld
// there. It is network-wide and signed into records, so it names no host.
export const LEDGER_CONTEXT_URL = "/contexts/ledger-v1.jsonld";

/** What records signed before the context was served named: kept valid, resolves nowhere. */
export const LEGACY_LEDGER_CONTEXT_URL = "https://flowchain.io/ns/ledger/v1";

/** The context file (in td/) served for LEDGER_CONTEXT_URL. */
export const LEDGER_CONTEXT_FILE = "ledger-context.jsonld";

export function isLedgerContext(v: unknown): boolean {
  return v === LEDGER_CONTEXT_URL || v === LEGACY_LEDGER_CONTEXT_URL;
}
