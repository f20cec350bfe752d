// Maps the Thing's properties, actions and events onto FlowchainNodeApi. Every action input is read
// raw and checked against the TD's schema here, so malformed or wrong input never reaches the node.
import type { ExposedThing } from "@node-wot/core";
import type { FlowchainNodeApi, PutInput, QueryInput, ReportInput } from "../node/api.js";
import type { Logger } from "../log.js";
import { AuthError, InputError, errorText } from "../util/errors.js";
import { errorStatus, undecodableInput } from "./error-status.js";
import type { InputCheck } from "./input-validation.js";
import { requestContext } from "./request-context.js";
import { ACTION_ROLES, roleAllows } from "./access.js";
import { sourceInScope, type Credential } from "../node/credentials.js";

/** Largest action payload accepted: records are sensor readings, not files. */
export const MAX_INPUT_BYTES = 64 * 1024;

interface RawInput {
  arrayBuffer(): Promise<ArrayBuffer>;
}

export function attachInteractions(
  thing: ExposedThing,
  node: FlowchainNodeApi,
  checks: Map<string, InputCheck>,
  log: Logger,
): () => void {
  thing.setPropertyReadHandler("id", async () => node.id);
  thing.setPropertyReadHandler("ring", async () => node.ring());
  thing.setPropertyReadHandler("chain", async () => node.chain());
  thing.setPropertyReadHandler("balance", async () => node.balance());
  thing.setPropertyReadHandler("branches", async () => node.branches() as Promise<WoT.InteractionInput>);
  thing.setPropertyReadHandler("checkpoint", async () => node.checkpoint());
  thing.setPropertyReadHandler("peers", async () => node.peers());
  thing.setPropertyReadHandler("stats", async () => node.stats());

  const action = <T>(name: string, run: (input: T, by: Credential | undefined) => Promise<unknown>) => {
    const check = checks.get(name);
    if (!check) throw new Error(`TD has no action '${name}'`);
    thing.setActionHandler(name, async (params) => {
      try {
        // Each binding checks the credential at its door; a request that reached the handler
        // another way (a route nobody foresaw) is refused here rather than run unchecked.
        const by = requestContext.getStore()?.credential;
        const role = ACTION_ROLES[name];
        if (role !== undefined && (by === undefined || !roleAllows(by, role))) {
          throw new AuthError("unauthenticated", `${name} needs a ${role} credential`);
        }
        const input = await readInput(name, params as unknown as RawInput | undefined);
        check(input);
        // node-wot serializes the result with the TD's output schema.
        return (await run(input as T, by)) as WoT.InteractionInput;
      } catch (err) {
        const status = errorStatus(err);
        const ctx = requestContext.getStore();
        if (ctx) ctx.error = status;
        if (status.kind !== "internal") throw err;
        // node-wot's HTTP server writes the message into the reply; this one is for the log only.
        log.warn("action failed", { action: name, err: errorText(err) });
        throw new Error(status.message);
      }
    });
  };

  action<PutInput>("put", (input, by) => node.put(scoped(input, by)));
  action<{ key: string; proof?: boolean }>("get", (input) =>
    node.get(input.key, { proof: input.proof === true }),
  );
  action<QueryInput>("query", async (input) => {
    const result = await node.query(input);
    const ctx = requestContext.getStore();
    if (ctx && !result.complete) ctx.partial = true;
    return result;
  });
  action<{ txID: string }>("approve", (input, by) =>
    node.approve(input, by === undefined ? undefined : { credential: by.id, subject: by.subject }),
  );
  action<{ txID: string }>("proof", (input) => node.proof(input));
  action<ReportInput>("report", (input) => node.report(input));
  action<undefined>("inventory", () => node.inventory());

  const forward = (event: string) => (data: unknown) => {
    try {
      thing.emitEvent(event, data as WoT.InteractionInput);
    } catch (err) {
      log.warn("event not delivered", { event, err: errorText(err) });
    }
  };
  const onBlock = forward("block");
  const onTransaction = forward("transaction");
  const onVerified = forward("verified");
  // chain changes exactly when a block is made, peers when ring membership changes.
  const changed = (property: string) => () => {
    thing
      .emitPropertyChange(property)
      .catch((err: unknown) => log.warn("property change", { property, err: errorText(err) }));
  };
  const onChainChange = changed("chain");
  const onMembers = changed("peers");
  node.on("block", onBlock);
  node.on("block", onChainChange);
  node.on("transaction", onTransaction);
  node.on("verified", onVerified);
  node.on("members", onMembers);
  return () => {
    node.off("members", onMembers);
    node.off("block", onBlock);
    node.off("block", onChainChange);
    node.off("transaction", onTransaction);
    node.off("verified", onVerified);
  };
}

/** A device credential scoped to a source writes only there; a put naming no source gets it. */
function scoped(input: PutInput, by: Credential | undefined): PutInput {
  const scope = by?.source;
  if (scope === undefined) return input;
  if (input.source === undefined) return { ...input, source: scope };
  if (!sourceInScope(scope, input.source)) {
    throw new AuthError(
      "forbidden",
      `this credential (${by!.subject}) writes source ${scope} only, not ${input.source}`,
    );
  }
  return input;
}

async function readInput(action: string, params: RawInput | undefined): Promise<unknown> {
  if (params == null || typeof params.arrayBuffer !== "function") return undefined;
  let buf: ArrayBuffer;
  try {
    buf = await params.arrayBuffer();
  } catch {
    // No payload at all (e.g. an empty CoAP POST).
    return undefined;
  }
  if (buf.byteLength === 0) return undefined;
  if (buf.byteLength > MAX_INPUT_BYTES) {
    throw new InputError("too_large", `input is ${buf.byteLength} bytes; the limit is ${MAX_INPUT_BYTES}`);
  }
  try {
    return JSON.parse(Buffer.from(buf).toString("utf8")) as unknown;
  } catch {
    throw undecodableInput(action);
  }
}
