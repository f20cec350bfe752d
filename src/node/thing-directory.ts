// The Thing Descriptions of ring members, for the `peers` property and the Thing Directory. A
// property read must never wait on the network, so TD URLs are learnt in the background.
import { z } from "zod";
import type { ChordNode } from "../chord/node.js";
import type { PeerRef } from "../chord/transport.js";
import type { RingMembers } from "./members.js";
import type { PeerClient } from "./protocol/peer-client.js";

export type ThingDescription = Record<string, unknown>;

export class ThingDirectory {
  private td: ThingDescription | undefined;
  /** TD URLs of peers, learnt from their node.info. */
  private readonly thingUrls = new Map<string, string>();

  constructor(private readonly c: { chord: ChordNode; client: PeerClient; members: RingMembers }) {}

  get own(): ThingDescription | undefined {
    return this.td;
  }

  setOwn(td: ThingDescription): void {
    this.td = td;
  }

  /** Neighbours (predecessor and successors), with their TD URL once known. */
  peers(): { id: string; addr: string; thing?: string }[] {
    const { chord } = this.c;
    const seen = new Map<string, { id: string; addr: string; thing?: string }>();
    const pred = chord.predecessor();
    for (const p of [...(pred ? [pred] : []), ...chord.successors()]) {
      if (p.id === chord.self.id || seen.has(p.id)) continue;
      const thing = this.thingUrls.get(p.id);
      seen.set(p.id, thing ? { id: p.id, addr: p.addr, thing } : { id: p.id, addr: p.addr });
      if (!thing) void this.learn(p);
    }
    return [...seen.values()];
  }

  /** TDs of every live member, this node's own included. */
  async all(): Promise<ThingDescription[]> {
    const members = await this.c.members.all();
    const tds = await Promise.all(
      members.map((m) => (m.id === this.c.chord.self.id ? this.td : this.learn(m))),
    );
    return tds.filter((td): td is ThingDescription => td !== undefined);
  }

  private async learn(p: PeerRef): Promise<ThingDescription | undefined> {
    const info = await this.c.client.tryCall(p, "node.info", {}, null);
    const td = info?.td ?? undefined;
    const url = td && tdUrlOf(td);
    if (url) this.thingUrls.set(p.id, url);
    return td;
  }
}

const AFFORDANCES = z.record(z.string(), z.unknown());
const WITH_FORMS = z.object({ forms: z.array(z.unknown()) });
const FORM = z.object({ href: z.string() });

/** Where a Thing's TD is served: /.well-known/wot on the origin of its HTTP forms. */
export function tdUrlOf(td: ThingDescription): string | undefined {
  for (const kind of ["properties", "actions", "events"]) {
    const affordances = AFFORDANCES.safeParse(td[kind]);
    if (!affordances.success) continue;
    for (const a of Object.values(affordances.data)) {
      const forms = WITH_FORMS.safeParse(a);
      if (!forms.success) continue;
      for (const f of forms.data.forms) {
        const form = FORM.safeParse(f);
        if (form.success && form.data.href.startsWith("http"))
          return new URL("/.well-known/wot", form.data.href).href;
      }
    }
  }
  return undefined;
}
