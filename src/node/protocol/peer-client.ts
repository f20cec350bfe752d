// Typed calls to other members. Every answer is parsed against the protocol table before the
// caller sees it: a malformed answer is a failed call (NetError "bad_result"), routed around like a
// timeout, so it can never throw out of a Promise.all or reach ledger code. Calls to this node
// itself go straight to its own guarded handlers, so callers treat every member alike.
import { z } from "zod";
import type { CallTarget, Handler } from "../../net/index.js";
import { NetError } from "../../net/index.js";
import type { PeerRef } from "../../chord/transport.js";
import { MAX_PEERS, peerRef } from "./shapes.js";
import { PROTOCOL, type Method, type ParamsIn, type Result } from "./table.js";

const SUCCESSORS = z.object({ successors: z.array(peerRef).max(MAX_PEERS) });

export interface CallTransport {
  call(target: CallTarget, method: string, params: unknown, opts?: { timeoutMs?: number }): Promise<unknown>;
}

export class PeerClient {
  constructor(
    private readonly components: {
      transport: CallTransport;
      selfId: string;
      selfAddr: () => string;
      /** This node's own guarded handlers (serve.ts). */
      local: () => ReadonlyMap<string, Handler>;
    },
  ) {}

  async call<M extends Method>(
    peer: CallTarget,
    method: M,
    params: ParamsIn<M>,
    opts?: { timeoutMs?: number },
  ): Promise<Result<M>> {
    const c = this.components;
    const own = peer.id === c.selfId ? c.local().get(method) : undefined;
    const raw = own
      ? await own(params, { id: c.selfId, addr: c.selfAddr() })
      : await c.transport.call(peer, method, params, opts);
    const r = PROTOCOL[method].result.safeParse(raw);
    if (!r.success) {
      throw new NetError(
        "bad_result",
        `${method} answer from ${peer.id ?? peer.addr}: ${z.prettifyError(r.error)}`.slice(0, 1000),
      );
    }
    return r.data as Result<M>;
  }

  /** A member's successor list (a ring method, parsed like any other answer). */
  async successorList(peer: CallTarget): Promise<PeerRef[]> {
    const r = SUCCESSORS.safeParse(await this.components.transport.call(peer, "chord.getSuccessorList", {}));
    if (!r.success)
      throw new NetError(
        "bad_result",
        `chord.getSuccessorList answer from ${peer.id ?? peer.addr} is malformed`,
      );
    return r.data.successors;
  }

  /** Like call, but a failure of any kind is `fallback`: for fan-outs where one dead member must not fail the rest. */
  async tryCall<M extends Method, F>(
    peer: CallTarget,
    method: M,
    params: ParamsIn<M>,
    fallback: F,
  ): Promise<Result<M> | F> {
    try {
      return await this.call(peer, method, params);
    } catch {
      return fallback;
    }
  }
}
