// Validation of everything that crosses the ring boundary. Both directions go through here:
// params a remote sends us (bad ones throw InputError so the RPC layer can answer "your fault")
// and results a remote returns (bad ones are treated like a failed request, never trusted).
import { InputError } from "../util/errors.js";
import { isId } from "./id.js";
import type { ChordMethod, PeerRef } from "./transport.js";

/** Every method ChordNode.handle answers, for transports that check a frame's method first. */
export const CHORD_METHODS: readonly ChordMethod[] = [
  "chord.ping",
  "chord.getPredecessor",
  "chord.getSuccessorList",
  "chord.closestPreceding",
  "chord.rectify",
  "chord.neighbors",
  "chord.merge",
];

export function isChordMethod(v: unknown): v is ChordMethod {
  return typeof v === "string" && (CHORD_METHODS as readonly string[]).includes(v);
}

/** Far more than a successor list (r is small) or a closest-preceding answer ever needs. */
export const MAX_PEERS_IN_MESSAGE = 64;
const MAX_ADDR_LENGTH = 256;

export function isPeerRef(v: unknown): v is PeerRef {
  if (typeof v !== "object" || v === null || Array.isArray(v)) return false;
  const o = v as Record<string, unknown>;
  return isId(o.id) && typeof o.addr === "string" && o.addr.length > 0 && o.addr.length <= MAX_ADDR_LENGTH;
}

/** Copies only the two known fields, so extra junk a remote attached never travels further. */
export function peerRef(v: unknown, what: string): PeerRef {
  if (!isPeerRef(v)) throw new InputError("bad_peer", `${what}: expected {id: 64 hex, addr: string}`);
  return { id: v.id, addr: v.addr };
}

export function peerList(v: unknown, what: string): PeerRef[] {
  if (!Array.isArray(v) || v.length > MAX_PEERS_IN_MESSAGE) {
    throw new InputError(
      "bad_peer_list",
      `${what}: expected an array of at most ${MAX_PEERS_IN_MESSAGE} peers`,
    );
  }
  return v.map((p, i) => peerRef(p, `${what}[${i}]`));
}

export function objectParams(v: unknown, method: string): Record<string, unknown> {
  // Methods without arguments accept null/undefined/{} so callers in other languages need not care.
  if (v === undefined || v === null) return {};
  if (typeof v !== "object" || Array.isArray(v))
    throw new InputError("bad_params", `${method}: params must be an object`);
  return v as Record<string, unknown>;
}

export function emptyParams(v: unknown, method: string): void {
  const o = objectParams(v, method);
  if (Object.keys(o).length > 0) throw new InputError("bad_params", `${method}: takes no params`);
}

export function keyParam(v: unknown, method: string): string {
  const o = objectParams(v, method);
  if (!isId(o.key)) throw new InputError("bad_key", `${method}: key must be 64 lowercase hex chars`);
  if (Object.keys(o).length !== 1) throw new InputError("bad_params", `${method}: unexpected params`);
  return o.key;
}

/** chord.merge's only param: the member to probe. */
export function mergeParam(v: unknown, method: string): PeerRef {
  const o = objectParams(v, method);
  if (Object.keys(o).length !== 1) throw new InputError("bad_params", `${method}: expects {peer}`);
  return peerRef(o.peer, `${method} peer`);
}

export interface NeighborsResult {
  predecessor: PeerRef | null;
  successors: PeerRef[];
}

export interface ClosestResult {
  successors: PeerRef[];
  closest: PeerRef[];
}

function resultObject(v: unknown, method: string): Record<string, unknown> {
  if (typeof v !== "object" || v === null || Array.isArray(v)) {
    throw new InputError("bad_result", `${method}: result must be an object`);
  }
  return v as Record<string, unknown>;
}

export function parseNeighbors(v: unknown): NeighborsResult {
  const o = resultObject(v, "chord.neighbors");
  return {
    predecessor: o.predecessor === null ? null : peerRef(o.predecessor, "predecessor"),
    successors: peerList(o.successors, "successors"),
  };
}

export function parseClosest(v: unknown): ClosestResult {
  const o = resultObject(v, "chord.closestPreceding");
  return { successors: peerList(o.successors, "successors"), closest: peerList(o.closest, "closest") };
}

export function parsePing(v: unknown, expected: PeerRef): void {
  const o = resultObject(v, "chord.ping");
  // A different node answering at a known address (restarted with a new key) is not the peer we meant.
  if (o.id !== expected.id) throw new InputError("wrong_peer", "chord.ping: answered by a different id");
}

/** The predecessor a rectify answer reports; junk or an old-style `{ok: true}` gives no hint. */
export function parseRectify(v: unknown): PeerRef | null {
  if (typeof v !== "object" || v === null || Array.isArray(v)) return null;
  const p = (v as Record<string, unknown>).predecessor;
  return isPeerRef(p) ? { id: p.id, addr: p.addr } : null;
}
