// How a node enters the ring at start. `--join` is a hint: a node with saved members tries the
// join address and then every saved member, so a supervisor can restart it with its original
// command line while the boot node is down. A node that has been a member and reaches nobody
// starts alone and keeps looking for the others (its puts are refused until w copies can be
// made); only a first join must succeed.
import type { ChordNode } from "../chord/node.js";
import type { Logger } from "../log.js";
import { AuthError, errorText } from "../util/errors.js";

/** How long a node that has never been a member keeps trying its --join address. */
export const FIRST_JOIN_PATIENCE_MS = 30_000;
/** The first round's call timeout; each later round doubles it, up to 8 times. */
export const CALL_TIMEOUT_MS = 3_000;
import type { PeerStore } from "./peer-store.js";
import type { PeerClient } from "./protocol/peer-client.js";

export async function joinOrStartAlone(
  c: { chord: ChordNode; client: PeerClient; peerStore: PeerStore; selfId: string; log: Logger },
  join: string | undefined,
): Promise<{ hadPeers: boolean }> {
  const savedPeers = await c.peerStore.load();
  // Known to the ring as well: if nobody answers now, maintenance keeps probing them.
  for (const p of savedPeers) c.chord.addKnownPeer(p);
  const saved = savedPeers.map((p) => p.addr);
  const candidates = [...new Set([...(join ? [join] : []), ...saved])];
  // A first join has nowhere else to go: on a busy machine a member may take seconds to answer,
  // so it keeps trying (with longer call timeouts) before it gives up. A wrong token fails at once.
  const mustJoin = join !== undefined && saved.length === 0;
  const deadline = Date.now() + (mustJoin ? FIRST_JOIN_PATIENCE_MS : 0);
  for (let round = 0; ; round++) {
    const timeoutMs = CALL_TIMEOUT_MS * 2 ** Math.min(round, 3);
    for (const addr of candidates) {
      try {
        const info = await c.client.call({ addr }, "node.info", {}, { timeoutMs });
        if (info.id === c.selfId) continue;
        await c.chord.join({ id: info.id, addr: info.addr });
        return { hadPeers: true };
      } catch (err) {
        if (err instanceof AuthError) throw err;
        c.log.warn("join attempt failed", { via: addr, round, err: errorText(err) });
      }
    }
    if (Date.now() >= deadline) break;
    await new Promise((r) => setTimeout(r, 500).unref());
  }
  if (join && saved.length === 0) throw new Error(`could not join the network through ${join}`);
  if (saved.length > 0)
    c.log.warn("no saved peer answered: starting alone until one does", { tried: candidates.length });
  c.chord.create();
  return { hadPeers: saved.length > 0 };
}
