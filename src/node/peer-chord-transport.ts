// Carries ring RPCs over the authenticated peer network; the expected id is always passed so a
// peer that answers on a recycled address with another key is refused, not trusted.
import type { ChordMethod, ChordTransport, PeerRef } from "../chord/transport.js";
import type { CallTransport } from "./protocol/peer-client.js";

export class PeerChordTransport implements ChordTransport {
  constructor(private readonly net: CallTransport) {}

  call(to: PeerRef, method: ChordMethod, params: unknown): Promise<unknown> {
    return this.net.call({ addr: to.addr, id: to.id }, method, params);
  }
}
