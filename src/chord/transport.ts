// The ring talks to other nodes only through this interface, so the same maintenance code runs
// over the in-process MemoryTransport (simulation, unit tests) and over authenticated WebSockets.

/** A ring member: its 256-bit id as 64 lowercase hex chars, and where to reach it ("host:port"). */
export interface PeerRef {
  id: string;
  addr: string;
}

/** Ring RPCs a ChordNode answers. Params and results are plain JSON. */
export type ChordMethod =
  | "chord.ping"
  | "chord.getPredecessor"
  | "chord.getSuccessorList"
  | "chord.closestPreceding"
  | "chord.rectify"
  // predecessor and successor list in one round trip: what stabilize needs each round
  | "chord.neighbors"
  // ring unification: "probe this member, it may be in another ring" (ring-merge.ts)
  | "chord.merge";

export interface ChordTransport {
  /**
   * Sends one request to `to` and resolves with its result. Rejects on timeout, on a closed or
   * unreachable peer, or with the remote error. The transport enforces its own timeout.
   */
  call(to: PeerRef, method: ChordMethod, params: unknown): Promise<unknown>;
}
