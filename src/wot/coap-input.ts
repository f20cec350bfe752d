// Checks a CoAP request payload against the affordance's data schema before any handler runs, so
// malformed or wrong input is refused with 4.00 (4.15 for a media type node-wot cannot decode).
import wotCore from "@node-wot/core";
import type * as coap from "coap";
import { Ajv, type ValidateFunction } from "ajv";
import { CoapReplyError } from "./coap-replies.js";

const { ContentSerdes } = wotCore;

export class CoapInputCheck {
  private readonly ajv = new Ajv({ strict: false, allErrors: true, logger: false });
  // Keyed by the schema object, which lives as long as its Thing.
  private readonly validators = new WeakMap<object, ValidateFunction>();

  decode(
    req: coap.IncomingMessage,
    schema: WoT.DataSchema | undefined,
    what: string,
    required: boolean,
  ): { mediaType: string; value: unknown } {
    const cf = req.headers["Content-Format"];
    const mediaType = typeof cf === "string" ? cf : cf === undefined ? "application/json" : String(cf);
    if (!ContentSerdes.get().isSupported(mediaType)) {
      throw new CoapReplyError("4.15", `unsupported Content-Format ${mediaType}`);
    }
    const payload = req.payload ?? Buffer.alloc(0);
    if (payload.length === 0) {
      if (schema !== undefined || required)
        throw new CoapReplyError("4.00", `${what} needs an input payload`);
      return { mediaType, value: undefined };
    }
    if (schema === undefined) return { mediaType, value: undefined };
    let value: unknown;
    try {
      value = ContentSerdes.get().contentToValue({ type: mediaType, body: payload }, schema);
    } catch (err) {
      throw new CoapReplyError("4.00", `malformed ${mediaType} input for ${what}: ${(err as Error).message}`);
    }
    const validate = this.validatorFor(schema);
    if (!validate(value)) {
      throw new CoapReplyError(
        "4.00",
        `invalid input for ${what}: ${this.ajv.errorsText(validate.errors, { dataVar: "input" })}`,
      );
    }
    return { mediaType, value };
  }

  private validatorFor(schema: WoT.DataSchema): ValidateFunction {
    let validate = this.validators.get(schema);
    if (validate === undefined) {
      validate = this.ajv.compile(stripTdKeywords(schema));
      this.validators.set(schema, validate);
    }
    return validate;
  }
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
