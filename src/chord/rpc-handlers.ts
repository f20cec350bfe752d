// The ring RPCs a member answers (CHORD_METHODS), including Zave's rectify, which replaces the
// original Chord's notify. Params are validated in wire.ts: junk throws InputError and changes
// nothing. The sender is whoever the transport authenticated, never a field of the payload.
import { InputError } from "../util/errors.js";
import { between } from "./id.js";
import { CLOSEST_IN_ANSWER } from "./lookup.js";
import type { RoutingState } from "./routing-state.js";
import type { ChordMethod, PeerRef } from "./transport.js";
import { emptyParams, isPeerRef, keyParam, mergeParam, peerRef } from "./wire.js";

export interface ChordRpcHandlersComponents {
  state: RoutingState;
}

export class ChordRpcHandlers {
  private readonly state: RoutingState;

  constructor(components: ChordRpcHandlersComponents) {
    this.state = components.state;
  }

  /**
   * Answers one ring RPC. `from` is the authenticated sender supplied by the transport, never a
   * field of the payload. Junk params throw InputError and change nothing.
   */
  async handle(method: ChordMethod, params: unknown, from?: PeerRef): Promise<unknown> {
    const res = this.answer(method, params, from);
    // An authenticated member that talks to us is live: remembered, and probed soon if it is new
    // to us or had stopped answering (the first sign that a partition healed).
    if (isPeerRef(from) && method !== "chord.rectify") this.state.addKnownPeer(peerRef(from, "sender"));
    return res;
  }

  private answer(method: ChordMethod, params: unknown, from?: PeerRef): unknown {
    const state = this.state;
    switch (method) {
      case "chord.ping":
        emptyParams(params, method);
        // Answers even when cut off: liveness is what a ping asks, and we still hold our keys.
        return { id: state.self.id };
      case "chord.getPredecessor":
        emptyParams(params, method);
        this.requireRing();
        return { predecessor: state.predecessor() };
      case "chord.getSuccessorList":
        emptyParams(params, method);
        this.requireRing();
        return { successors: state.answerList() };
      case "chord.neighbors":
        emptyParams(params, method);
        this.requireRing();
        return { predecessor: state.predecessor(), successors: state.answerList() };
      case "chord.closestPreceding": {
        const key = keyParam(params, method);
        this.requireRing();
        return { successors: state.answerList(), closest: state.closestPreceding(key, CLOSEST_IN_ANSWER) };
      }
      case "chord.rectify": {
        emptyParams(params, method);
        if (from === undefined)
          throw new InputError("no_sender", "chord.rectify needs an authenticated sender");
        const sender = peerRef(from, "sender");
        this.requireRing();
        this.rectify(sender);
        return { ok: true, predecessor: state.predecessor() };
      }
      case "chord.merge":
        // Only a probe candidate: ring-merge.ts adopts nothing without a live, closer answer.
        state.book.hint(mergeParam(params, method));
        return { ok: true };
      default:
        throw new InputError("unknown_method", `unknown ring method: ${String(method).slice(0, 64)}`);
    }
  }

  private requireRing(): void {
    // A node cut off from the ring would answer from stale or empty state; callers route around it.
    if (!this.state.isInRing()) throw new Error("chord: not in a ring");
  }

  /**
   * Zave's rectify: the sender thinks it is our predecessor. Adopt it if we have none, if it lies
   * strictly between the current one and us, or if the current one is suspected dead (failed
   * check_predecessor) — that replaces notify's unsafe "trust whoever calls".
   */
  private rectify(sender: PeerRef): void {
    const state = this.state;
    const self = state.self;
    if (sender.id === self.id) return;
    state.addKnownPeer(sender);
    const cur = state.storedPredecessor();
    if (
      cur === null ||
      cur.id === sender.id ||
      between(cur.id, sender.id, self.id) ||
      state.isSuspect(cur.id)
    ) {
      state.setPredecessor(sender);
      // Rectify counts as hearing from the sender: it is no longer a suspect.
      state.clearFailures(sender.id);
      // A lone node's first rectifier is also its successor (a two-node ring): take it now rather
      // than one stabilize later, so the pair is consistent as soon as the join completes.
      if (state.storedList().length === 0) state.setList([sender]);
      state.emitChanges();
    }
  }
}
