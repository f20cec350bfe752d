// Validates action inputs against the data schemas of the TD itself (compiled once with ajv), before
// any node call: the TD is the contract, so a consumer reading it knows exactly what is accepted.
import { Ajv, type ErrorObject, type ValidateFunction } from "ajv";
import { assertSafeNumber } from "../ledger/canonical.js";
import { parseIsoTimestamp } from "../ledger/timestamp.js";
import { InputError } from "../util/errors.js";

/** RFC 3339 date-time shape; the instant must also be a real one (parseIsoTimestamp, as the ledger). */
const DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/;

/** Why s is not an acceptable date-time, or undefined when it is. */
function dateTimeProblem(s: string): string | undefined {
  if (!DATE_TIME.test(s)) return "not an RFC 3339 date-time";
  try {
    parseIsoTimestamp(s);
    return undefined;
  } catch (e) {
    return (e as Error).message;
  }
}

export type InputCheck = (input: unknown) => void;

export function compileInputValidators(td: Record<string, unknown>): Map<string, InputCheck> {
  const ajv = inputAjv();
  const checks = new Map<string, InputCheck>();
  const actions = (td.actions ?? {}) as Record<string, { input?: unknown }>;
  for (const [name, action] of Object.entries(actions)) {
    checks.set(name, schemaCheck(ajv, name, action.input as object | undefined));
  }
  return checks;
}

/** The validator every binding checks inputs with, so each refuses the same input in the same words. */
export function inputAjv(): Ajv {
  // strict: false because TD data schemas carry TD-only keywords (@type, readOnly, unit, ...).
  // verbose: a oneOf error then carries its branches, so the message can name the accepted types.
  const ajv = new Ajv({ strict: false, allErrors: true, verbose: true, logger: false });
  ajv.addFormat("date-time", (s: string) => dateTimeProblem(s) === undefined);
  return ajv;
}

/** The check of one input against its schema; `name` starts every refusal (`get: input ...`). */
export function schemaCheck(ajv: Ajv, name: string, schema: object | undefined): InputCheck {
  if (schema === undefined) {
    return (input) => {
      if (input !== undefined) throw new InputError("invalid_input", `${name} takes no input`);
    };
  }
  const validate: ValidateFunction = ajv.compile(schema);
  return (input) => {
    if (input === undefined) throw new InputError("invalid_input", inputRequired(name));
    if (!validate(input)) {
      throw new InputError("invalid_input", `${name}: ${describe(validate.errors ?? [])}`);
    }
    assertSafeNumbers(name, input);
  };
}

export function inputRequired(name: string): string {
  return `${name}: input is required`;
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
      const dateTime = (e.schema as { format?: string }[]).some((b) => b.format === "date-time");
      const why = dateTime && typeof e.data === "string" ? dateTimeProblem(e.data) : undefined;
      lines.add(`${where} must be one of: ${kinds.join(", ")}${why === undefined ? "" : ` (${why})`}`);
    } else if (!oneOfPaths.has(e.instancePath)) {
      const extra = e.keyword === "additionalProperties" ? ` '${String(e.params.additionalProperty)}'` : "";
      lines.add(`${where} ${e.message ?? "is invalid"}${extra}`);
    }
  }
  return [...lines].join("; ");
}

/**
 * Every number in an input must survive JSON exactly (assertSafeNumber): the schemas cannot say so for
 * put's free-form value. Paths as the ledger names them (`value.n`, `value.list[2]`); iterative, so
 * deep nesting cannot overflow the stack.
 */
function assertSafeNumbers(action: string, input: unknown): void {
  const stack: [unknown, string][] = [[input, ""]];
  for (let item = stack.pop(); item !== undefined; item = stack.pop()) {
    const [v, path] = item;
    if (typeof v === "number") assertSafeNumber(v, `${action}: ${path || "input"}`);
    else if (Array.isArray(v)) v.forEach((x, i) => stack.push([x, `${path}[${i}]`]));
    else if (typeof v === "object" && v !== null)
      for (const [k, x] of Object.entries(v)) stack.push([x, path ? `${path}.${k}` : k]);
  }
}
