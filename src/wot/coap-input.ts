// Checks a CoAP request payload against the affordance's data schema before any handler runs, so
// malformed or wrong input is refused with 4.00 (4.15 for a media type node-wot cannot decode),
// with the same checks and words as the HTTP binding's (input-validation.ts).
import wotCore from "@node-wot/core";
import type * as coap from "coap";
import { InputError } from "../util/errors.js";
import { undecodableInput } from "./error-status.js";
import { inputAjv, inputRequired, schemaCheck, type InputCheck } from "./input-validation.js";
import { CoapReplyError } from "./coap-replies.js";

const { ContentSerdes } = wotCore;

export class CoapInputCheck {
  private readonly ajv = inputAjv();
  // Keyed by the schema object, which lives as long as its Thing; then by the affordance's name,
  // which starts every refusal, as HTTP's do.
  private readonly checks = new WeakMap<object, Map<string, InputCheck>>();

  /** `name` is the affordance's: refusals read as HTTP's (`get: input is not valid JSON`). */
  decode(
    req: coap.IncomingMessage,
    schema: WoT.DataSchema | undefined,
    name: string,
    required: boolean,
  ): { mediaType: string; value: unknown } {
    const cf = req.headers["Content-Format"];
    const mediaType = typeof cf === "string" ? cf : cf === undefined ? "application/json" : String(cf);
    if (!ContentSerdes.get().isSupported(mediaType)) {
      throw new CoapReplyError("4.15", `unsupported Content-Format ${mediaType}`);
    }
    const payload = req.payload ?? Buffer.alloc(0);
    if (payload.length === 0) {
      if (schema !== undefined || required) throw new InputError("invalid_input", inputRequired(name));
      return { mediaType, value: undefined };
    }
    if (schema === undefined) return { mediaType, value: undefined };
    let value: unknown;
    try {
      // node-wot's JSON codec hands back text that is not JSON as a string (refused then as "must
      // be object"); HTTP's reader says what is wrong, so JSON is parsed here as there.
      value = isJson(mediaType)
        ? (JSON.parse(payload.toString("utf8")) as unknown)
        : ContentSerdes.get().contentToValue({ type: mediaType, body: payload }, schema);
    } catch {
      throw undecodableInput(name, mediaType);
    }
    this.checkFor(schema, name)(value);
    return { mediaType, value };
  }

  private checkFor(schema: WoT.DataSchema, name: string): InputCheck {
    let byName = this.checks.get(schema);
    if (byName === undefined) {
      byName = new Map();
      this.checks.set(schema, byName);
    }
    let check = byName.get(name);
    if (check === undefined) {
      check = schemaCheck(this.ajv, name, stripTdKeywords(schema));
      byName.set(name, check);
    }
    return check;
  }
}

function isJson(mediaType: string): boolean {
  const type = mediaType.split(";")[0]!.trim();
  return type === "application/json" || type.endsWith("+json");
}

// TD data schemas carry annotations (forms, @type, readOnly on affordances...) that are not JSON
// Schema; ajv runs non-strict so unknown keywords are ignored, but `forms`/`uriVariables` hold
// objects ajv must not descend into.
function stripTdKeywords(schema: WoT.DataSchema): object {
  const copy: Record<string, unknown> = { ...(schema as Record<string, unknown>) };
  delete copy.forms;
  delete copy.uriVariables;
  delete copy["@type"];
  return copy;
}
