// The paper's "timed" miner: hashes at no more than `hashesPerSecond`, in small synchronous slices
// separated by setImmediate/setTimeout so a node's event loop (puts, RPC, the WoT server) never
// waits more than one slice (at most SLICE_HASHES double SHA-256s, ~3 ms on this machine) for the miner.
// Two limits, because they answer different needs: the hash rate bounds the energy a device spends
// (and so how long a harder tier takes), and `minIntervalMs` bounds how many blocks an easy tier
// makes. With the rate alone, a rate low enough to keep the easy tier at a block a second leaves
// a node with no valid block for minutes at a harder tier, and every put routed to it waits.
import { BlockHeader, headerPrefix, headerSuffix } from "./block.js";
import { doubleSha256Hex } from "../util/hash.js";
import { meetsTarget } from "./difficulty.js";

export const SLICE_HASHES = 1000;

/** Everything of the next header except nonce and timestamp, read fresh at every slice. */
export type HeaderTemplate = Omit<BlockHeader, "nonce" | "timestamp">;

export interface MinerOptions {
  hashesPerSecond: number;
  /** No block sooner than this after the previous one (default 0). */
  minIntervalMs?: number;
  /** Returns the header to work on, or null when there is nothing worth mining right now. */
  template: () => HeaderTemplate | null;
  /** Called synchronously, inside the slice that found the header, so no record can slip between. */
  found: (header: BlockHeader, hash: string) => void;
  now?: () => number;
}

export class Miner {
  private readonly opts: MinerOptions;
  private running = false;
  private timer: NodeJS.Timeout | NodeJS.Immediate | null = null;
  private timerKind: "timeout" | "immediate" | null = null;
  private tokens = 0;
  private lastRefill = 0;
  private nonce = 0;
  private idle = false;
  private lastFound = -Infinity;
  hashes = 0;

  constructor(opts: MinerOptions) {
    if (!(opts.hashesPerSecond > 0)) throw new RangeError("hashesPerSecond must be > 0");
    this.opts = opts;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.idle = false;
    this.lastRefill = performance.now();
    this.tokens = 1;
    this.schedule(0);
  }

  stop(): void {
    this.running = false;
    this.clear();
  }

  /** There may be work now (a record landed in an empty block, a block was invalidated). */
  wake(): void {
    if (this.running && this.idle) {
      this.idle = false;
      this.clear();
      this.schedule(0);
    }
  }

  private clear(): void {
    if (this.timer === null) return;
    if (this.timerKind === "timeout") clearTimeout(this.timer as NodeJS.Timeout);
    else clearImmediate(this.timer as NodeJS.Immediate);
    this.timer = null;
  }

  private schedule(ms: number): void {
    if (!this.running) return;
    if (ms <= 0) {
      this.timerKind = "immediate";
      this.timer = setImmediate(() => this.slice());
    } else {
      this.timerKind = "timeout";
      // Ref'd: the miner waits only while it has something to seal, and puts may be waiting on that
      // block; an idle miner holds no timer at all, and stop() (ledger close) clears this one.
      this.timer = setTimeout(() => this.slice(), ms);
    }
  }

  private slice(): void {
    this.timer = null;
    if (!this.running) return;
    const hps = this.opts.hashesPerSecond;
    const t = performance.now();
    const early = this.lastFound + (this.opts.minIntervalMs ?? 0) - t;
    if (early > 0) {
      this.schedule(Math.ceil(early));
      return;
    }
    // Token bucket capped at a tenth of a second of work, so an idle spell buys no burst.
    this.tokens = Math.min(Math.max(1, hps / 10), this.tokens + ((t - this.lastRefill) / 1000) * hps);
    this.lastRefill = t;
    if (this.tokens < 1) {
      this.schedule(Math.ceil(((1 - this.tokens) / hps) * 1000));
      return;
    }
    const tpl = this.opts.template();
    if (tpl === null) {
      // Nothing to seal: sleep until wake(), keeping no tokens.
      this.idle = true;
      this.tokens = 0;
      return;
    }
    const n = Math.min(SLICE_HASHES, Math.floor(this.tokens));
    const timestamp = this.opts.now ? this.opts.now() : Date.now();
    // Only the nonce changes within a slice: serialise the rest once.
    const prefix = headerPrefix(tpl);
    const suffix = headerSuffix({ ...tpl, timestamp });
    for (let i = 0; i < n; i++) {
      const nonce = this.nonce;
      this.nonce = nonce >= Number.MAX_SAFE_INTEGER ? 0 : nonce + 1;
      this.hashes++;
      const hash = doubleSha256Hex(prefix + nonce + suffix);
      if (meetsTarget(hash, tpl.target)) {
        this.tokens -= i + 1;
        this.nonce = 0;
        this.lastFound = performance.now();
        this.opts.found({ ...tpl, timestamp, nonce }, hash);
        this.schedule(0);
        return;
      }
    }
    this.tokens -= n;
    this.schedule(0);
  }
}
