// Puts handlers behind the protocol table: params are parsed before a handler runs (a malformed
// one is a `bad_params` InputError to the caller, never an exception inside the node), "miner"
// methods take only what the caller mined, and a void result travels as null.
import { z } from "zod";
import type { Handler } from "../../net/index.js";
import { AuthError, InputError } from "../../util/errors.js";
import { METHODS, PROTOCOL, type Method, type Params, type Result } from "./table.js";

export type Caller = { id: string; addr: string };
export type MethodHandler<M extends Method> = (
  params: Params<M>,
  from: Caller,
) => Promise<Result<M>> | Result<M>;
export type Handlers = { [M in Method]: MethodHandler<M> };

/** What serve() needs of a transport: PeerNetwork and the in-memory twin both have it. */
export interface HandlerRegistry {
  handle(method: string, handler: Handler): void;
}

export function parseParams<M extends Method>(method: M, raw: unknown): Params<M> {
  const r = PROTOCOL[method].params.safeParse(raw);
  if (!r.success) throw new InputError("bad_params", `${method}: ${z.prettifyError(r.error)}`.slice(0, 1000));
  return r.data as Params<M>;
}

/** One handler wrapped with the table's checks, for the transport and for calls to oneself. */
export function guarded<M extends Method>(method: M, handler: MethodHandler<M>): Handler {
  const s = PROTOCOL[method];
  return async (raw, from) => {
    const params = parseParams(method, raw);
    if (s.access === "miner" && "minedBy" in s) {
      const miners = (s.minedBy as (p: Params<M>) => string[])(params);
      if (miners.some((m) => m !== from.id)) {
        throw new AuthError("not_miner", `${method}: a node sends copies of its own blocks only`);
      }
    }
    return (await handler(params, from)) ?? null;
  };
}

/** Registers every method of the table; returns the guarded handlers for calls to oneself. */
export function serve(registry: HandlerRegistry, handlers: Handlers): Map<string, Handler> {
  const local = new Map<string, Handler>();
  for (const m of METHODS) {
    const h = guarded(m, handlers[m] as MethodHandler<typeof m>);
    local.set(m, h);
    registry.handle(m, h);
  }
  return local;
}
