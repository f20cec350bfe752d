// A flood of idle WebSocket connections from one source address, each reopened as soon as it
// closes: what an attacker without a token can do to a node's peer port. Bounded in time.
import type { ExecutionContext } from "ava";
import { WebSocket } from "ws";

/** The flooder stops reopening after this, whatever happens; a failure deadline, not a sleep. */
const FLOOD_DEADLINE_MS = 240_000;
const WAIT_MS = 45_000;

/** Idle sockets from one source address, each reopened as soon as it closes. */
export class Flooder {
  opens = 0;
  evictions = 0;
  /** Closed with anything but 4003: reset before the upgrade (evicted or timed out), or refused. */
  resets = 0;
  private readonly sockets = new Set<WebSocket>();
  private readonly deadline = Date.now() + FLOOD_DEADLINE_MS;
  private waiters: Array<() => void> = [];
  private stopped = false;

  constructor(
    private readonly addr: string,
    private readonly count: number,
    private readonly opts: { localAddress?: string; onEvent?: () => void; tls?: boolean } = {},
  ) {}

  start(t: ExecutionContext): this {
    t.teardown(() => this.stop());
    for (let i = 0; i < this.count; i++) this.open();
    return this;
  }

  /** Resolves once `cond` holds, checked after every flood socket event; throws after `ms`. */
  async until(cond: () => boolean, what: string, ms = WAIT_MS): Promise<void> {
    const end = Date.now() + ms;
    while (!cond()) {
      const left = end - Date.now();
      if (left <= 0) {
        throw new Error(
          `timed out waiting for ${what} (${this.opens} opened, ${this.evictions} evicted with 4003, ${this.resets} closed otherwise)`,
        );
      }
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        new Promise<void>((r) => this.waiters.push(r)),
        new Promise<void>((r) => (timer = setTimeout(r, left))),
      ]);
      clearTimeout(timer);
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    const closed = [...this.sockets].map((ws) => new Promise((r) => ws.once("close", r)));
    for (const ws of this.sockets) ws.terminate();
    await Promise.all(closed);
  }

  private open(): void {
    if (this.stopped || Date.now() > this.deadline) return;
    // Over TLS (the default, as a PeerNetwork's) an idle flood socket completes TLS and the
    // upgrade, then says nothing.
    const ws = new WebSocket(`${this.opts.tls === false ? "ws" : "wss"}://${this.addr}`, {
      perMessageDeflate: false,
      localAddress: this.opts.localAddress,
      rejectUnauthorized: false,
    });
    this.sockets.add(ws);
    ws.on("error", () => {});
    ws.on("open", () => {
      this.opens++;
      this.event();
    });
    ws.on("close", (code) => {
      this.sockets.delete(ws);
      if (code === 4003) this.evictions++;
      else this.resets++;
      this.event();
      this.open();
    });
  }

  private event(): void {
    this.opts.onEvent?.();
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }
}
