// In-process network for the simulation and unit tests: every call goes straight to the target's
// handle(), with params and results copied through JSON so nothing but plain JSON crosses (as over
// a socket). A killed node rejects at once, as a timed-out request would, only faster. partition()
// splits the network into groups: a call across groups fails exactly like one to a dead node, in
// both directions, until heal().
import type { ChordNode } from "./node.js";
import type { ChordMethod, ChordTransport, PeerRef } from "./transport.js";

export class MemoryNetwork {
  private readonly nodes = new Map<string, ChordNode>();
  private readonly dead = new Set<string>();
  /** Group of each node while partitioned; null when whole. */
  private groups: Map<string, number> | null = null;
  /** Requests attempted, per method, dead targets included: the simulation's message cost. */
  readonly counts = new Map<ChordMethod, number>();
  messages = 0;
  failed = 0;

  register(node: ChordNode): void {
    this.nodes.set(node.self.id, node);
    this.dead.delete(node.self.id);
  }

  /** Crash-stop: the node stops answering and its timers stop; its state is left as it was. */
  kill(id: string): void {
    const node = this.nodes.get(id);
    node?.stop();
    this.dead.add(id);
  }

  /**
   * Cuts the network into `groups` (ids); a node listed in none forms one more group with the
   * other unlisted ones. Calls across groups fail like calls to dead nodes.
   */
  partition(...groups: Iterable<string>[]): void {
    const g = new Map<string, number>();
    groups.forEach((ids, i) => {
      for (const id of ids) g.set(id, i);
    });
    this.groups = g;
  }

  heal(): void {
    this.groups = null;
  }

  /** Whether a call from `a` can reach `b` (both alive and on the same side of any partition). */
  reachable(a: string, b: string): boolean {
    if (!this.isAlive(a) || !this.isAlive(b)) return false;
    if (!this.groups) return true;
    return (this.groups.get(a) ?? -1) === (this.groups.get(b) ?? -1);
  }

  isAlive(id: string): boolean {
    return this.nodes.has(id) && !this.dead.has(id);
  }

  transport(forId: string): ChordTransport {
    return {
      call: async (to: PeerRef, method: ChordMethod, params: unknown): Promise<unknown> => {
        this.messages++;
        this.counts.set(method, (this.counts.get(method) ?? 0) + 1);
        const sender = this.nodes.get(forId);
        const target = this.nodes.get(to.id);
        if (!sender || this.dead.has(forId))
          throw new Error(`memory network: sender ${forId.slice(0, 8)} is not alive`);
        if (!target || !this.reachable(forId, to.id) || target.self.addr !== to.addr) {
          this.failed++;
          throw new Error(`memory network: ${to.id.slice(0, 8)} unreachable`);
        }
        const copy = params === undefined ? undefined : JSON.parse(JSON.stringify(params));
        const res = await target.handle(method, copy, { ...sender.self });
        return res === undefined ? undefined : JSON.parse(JSON.stringify(res));
      },
    };
  }
}
