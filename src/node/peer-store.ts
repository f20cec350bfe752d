// The peers a node last saw, kept in its data directory so a restarted node can rejoin through
// any of them. A file a person may have edited is parsed, not trusted.
import { readFile, writeFile } from "node:fs/promises";
import { z } from "zod";
import type { PeerRef } from "../chord/transport.js";
import { MAX_PEERS, peerRef } from "./protocol/shapes.js";

const SAVED = z.array(peerRef).max(MAX_PEERS);

export class PeerStore {
  constructor(private readonly init: { file: string; selfId: string }) {}

  /** Saved peers other than this node; [] when there is no usable file. */
  async load(): Promise<PeerRef[]> {
    let text: string;
    try {
      text = await readFile(this.init.file, "utf8");
    } catch {
      return [];
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      return [];
    }
    const r = SAVED.safeParse(parsed);
    return r.success ? r.data.filter((p) => p.id !== this.init.selfId) : [];
  }

  async save(list: PeerRef[]): Promise<void> {
    const others = list.filter((p) => p.id !== this.init.selfId);
    if (!others.length) return;
    await writeFile(this.init.file, JSON.stringify(others) + "\n").catch(() => undefined);
  }
}
