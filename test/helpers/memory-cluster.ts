// N real FlowchainNodes in one process over the in-memory peer transport, each with its own
// LevelDB in a temp dir: the node layer's twin of chord's MemoryNetwork. Fault hooks come from
// the hub (partition, drop, delay) plus crash and restart of a whole node from its data dir.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { silentLogger } from "../../src/log.js";
import { MemoryPeerHub, MemoryPeerNetwork } from "../../src/net/index.js";
import { FlowchainNode, type NodeOptions } from "../../src/node/flowchain-node.js";
import { eventually } from "./eventually.js";

export interface MemoryClusterOptions {
  /** Per-node overrides of the node options (fast timers by default). */
  node?: Partial<NodeOptions>;
}

interface Slot {
  dir: string;
  addr: string;
  node: FlowchainNode | undefined;
}

// Fast ring maintenance; the call timeout stays generous, since a busy CI machine runs this beside other tests.
const FAST: Partial<NodeOptions> = { stabilizeMs: 100, requestTimeoutMs: 1_000, repairMs: 5_000 };

export class MemoryCluster {
  readonly hub = new MemoryPeerHub();
  private readonly slots: Slot[] = [];
  private token: string | undefined;

  private constructor(private readonly opts: MemoryClusterOptions) {}

  /** Starts n nodes: the first creates the network, the others join through it one by one. */
  static async start(n: number, opts: MemoryClusterOptions = {}): Promise<MemoryCluster> {
    const c = new MemoryCluster(opts);
    try {
      for (let i = 0; i < n; i++) await c.add();
    } catch (err) {
      await c.stop();
      throw err;
    }
    return c;
  }

  /** Live nodes, in the order they were added. */
  get nodes(): FlowchainNode[] {
    return this.slots.flatMap((s) => (s.node ? [s.node] : []));
  }

  node(i: number): FlowchainNode {
    const n = this.slots[i]?.node;
    if (!n) throw new Error(`node ${i} is not running`);
    return n;
  }

  get size(): number {
    return this.slots.length;
  }

  isUp(i: number): boolean {
    return this.slots[i]?.node !== undefined;
  }

  /** Adds a node that joins through the first live one. */
  async add(): Promise<FlowchainNode> {
    const dir = await mkdtemp(join(tmpdir(), "flowchain-mem-"));
    const slot: Slot = { dir, addr: "", node: undefined };
    this.slots.push(slot);
    const via = this.nodes[0];
    const node = await this.boot(slot, via ? { join: via.addr, token: this.token } : {});
    this.token ??= await node.joinToken();
    return node;
  }

  /** Drops a node as a kill -9 would: it answers nothing from now on and tells nobody. */
  async crash(i: number): Promise<void> {
    const slot = this.slots[i];
    if (!slot.node) return;
    const node = slot.node;
    slot.node = undefined;
    this.hub.crash(slot.addr);
    // Its timers and LevelDB go with it; peers see only silence on its address.
    await node.stop();
  }

  /** Starts a stopped or crashed node again from its data dir, on its old address (optionally with its original --join). */
  async restart(i: number, how: { join?: string; token?: string } = {}): Promise<FlowchainNode> {
    const slot = this.slots[i];
    if (slot.node) throw new Error(`node ${i} is running`);
    return this.boot(slot, how);
  }

  /** The network's join token, from the first node. */
  get joinToken(): string | undefined {
    return this.token;
  }

  /** Where node i listens (also while it is down). */
  addrOf(i: number): string {
    return this.slots[i].addr;
  }

  /** Node i's data directory. */
  dirOf(i: number): string {
    return this.slots[i].dir;
  }

  async stopNode(i: number): Promise<void> {
    const node = this.slots[i].node;
    this.slots[i].node = undefined;
    await node?.stop();
  }

  /** Waits until the live nodes form one ring: each one's successor is the next live id, and its successor list holds at least two others. */
  async converged(timeoutMs = 20_000): Promise<void> {
    await eventually(
      async () => {
        const live = [...this.nodes].sort((a, b) => (a.id < b.id ? -1 : 1));
        return live.every((n, i) => {
          const next = live[(i + 1) % live.length];
          const prev = live[(i - 1 + live.length) % live.length];
          const succ = n.ring().successors[0];
          const pred = n.ring().predecessor;
          if (live.length === 1) return n.ring().successors.every((p) => p.id === n.id);
          // Successor lists filled too: a node whose list still holds one peer loses the ring
          // with that one link, which is not what a test of something else means to set up.
          const others = new Set(
            n
              .ring()
              .successors.map((p) => p.id)
              .filter((id) => id !== n.id),
          );
          return succ?.id === next.id && pred?.id === prev.id && others.size >= Math.min(live.length - 1, 2);
        });
      },
      "one ring of the live nodes",
      timeoutMs,
      20,
    );
  }

  async stop(): Promise<void> {
    await Promise.all(this.slots.map((s) => s.node?.stop().catch(() => undefined)));
    for (const s of this.slots) s.node = undefined;
    await Promise.all(this.slots.map((s) => rm(s.dir, { recursive: true, force: true })));
  }

  private async boot(slot: Slot, how: { join?: string; token?: string }): Promise<FlowchainNode> {
    const node = await FlowchainNode.start(
      { dataDir: slot.dir, host: "mem", port: 0, log: silentLogger, ...FAST, ...this.opts.node, ...how },
      {
        createTransport: (init) => new MemoryPeerNetwork(this.hub, { ...init, addr: slot.addr || undefined }),
        ledger: { workers: 0 },
      },
    );
    slot.addr = node.addr;
    slot.node = node;
    return node;
  }
}
