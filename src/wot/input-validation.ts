// Validates action inputs against the data schemas of the TD itself (compiled once with ajv), before
// any node call: the TD is the contract, so a consumer reading it knows exactly what is accepted.
import { Ajv, type ErrorObject, type ValidateFunction } from "ajv";
import { InputError } from "../util/errors.js";

/** Strict ISO 8601 date-time (RFC 3339 profile) that Date.parse also understands. */
const DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/i;

export type InputCheck = (input: unknown) => void;

export function compileInputValidators(td: Record<string, unknown>): Map<string, InputCheck> {
  // strict: false because TD data schemas carry TD-only keywords (@type, readOnly, unit, ...).
  // verbose: a oneOf error then carries its branches, so the message can name the accepted types.
  const ajv = new Ajv({ strict: false, allErrors: true, verbose: true });
  ajv.addFormat("date-time", (s: string) => DATE_TIME.test(s) && !Number.isNaN(Date.parse(s)));
  const checks = new Map<string, InputCheck>();
  const actions = (td.actions ?? {}) as Record<string, { input?: unknown }>;
  for (const [name, action] of Object.entries(actions)) {
    if (action.input === undefined) {
      checks.set(name, (input) => {
        if (input !== undefined) throw new InputError("invalid_input", `${name} takes no input`);
      });
      continue;
    }
    const validate: ValidateFunction = ajv.compile(action.input as object);
    checks.set(name, (input) => {
      if (input === undefined) throw new InputError("invalid_input", `${name}: input is required`);
      if (!validate(input)) {
        throw new InputError("invalid_input", `${name}: ${describe(validate.errors ?? [])}`);
      }
    });
  }
  return checks;
}

/** One line per failing path; a failed oneOf is reported once, as the list of accepted types. */
function describe(errors: ErrorObject[]): string {
  const oneOfPaths = new Set(errors.filter((e) => e.keyword === "oneOf").map((e) => e.instancePath));
  const lines = new Set<string>();
  for (const e of errors) {
    const where = "input" + e.instancePath;
    if (e.keyword === "oneOf" && Array.isArray(e.schema)) {
      const kinds = (e.schema as { type?: string; format?: string }[]).map((b) =>
        b.format ? `${b.type} (${b.format})` : String(b.type),
      );
      lines.add(`${where} must be one of: ${kinds.join(", ")}`);
    } else if (!oneOfPaths.has(e.instancePath)) {
      const extra = e.keyword === "additionalProperties" ? ` '${String(e.params.additionalProperty)}'` : "";
      lines.add(`${where} ${e.message ?? "is invalid"}${extra}`);
    }
  }
  return [...lines].join("; ");
}
