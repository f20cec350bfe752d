// Flow control for one connection's send side: frames wait while the socket's send buffer is above
// the high-water mark, so a peer that stops reading slows its callers down instead of growing our
// memory, and frames written in one tick leave in one writev (cork). Knows nothing of frames'
// meaning: the connection decides what to send, this decides when.
import type { Socket } from "node:net";
import type { WebSocket } from "ws";
import type { Logger } from "../log.js";
import { NetError } from "./frame.js";

export interface SendGateComponents {
  ws: WebSocket;
  log: Logger;
  /** False once the connection closed: waiting writers then fail with NetError("closed"). */
  isOpen(): boolean;
}

export interface SendGateInit {
  /** Send-buffer high-water mark. */
  highWaterBytes: number;
  /** The peer, for messages. */
  remote: string;
}

export class SendGate {
  private readonly ws: WebSocket;
  private readonly log: Logger;
  private readonly isOpen: () => boolean;
  private readonly highWaterBytes: number;
  private readonly remote: string;
  private drainWaiters: Array<() => void> = [];
  private corked = false;
  private waitingBytes = 0;

  constructor(components: SendGateComponents, init: SendGateInit) {
    this.ws = components.ws;
    this.log = components.log;
    this.isOpen = components.isOpen;
    this.highWaterBytes = init.highWaterBytes;
    this.remote = init.remote;
  }

  /** Bytes in ws's send buffer, and writers waiting for it to drain. */
  stats(): { bufferedBytes: number; blockedSends: number } {
    return { bufferedBytes: this.ws.bufferedAmount, blockedSends: this.drainWaiters.length };
  }

  /** The send buffer is above the mark: the peer is not reading what we already owe it. */
  overloaded(): boolean {
    return this.ws.bufferedAmount > this.highWaterBytes;
  }

  /**
   * Sends one request frame, waiting first if the send buffer is full. Requests waiting for the
   * drain are memory too: beyond a few high-water marks of them, fails with NetError("busy").
   */
  async sendRequest(text: string): Promise<void> {
    if (this.ws.bufferedAmount <= this.highWaterBytes) return this.write(text);
    const bytes = Buffer.byteLength(text);
    if (this.waitingBytes + bytes > 4 * this.highWaterBytes) {
      throw new NetError("busy", `send buffer to ${this.remote} is full`);
    }
    this.waitingBytes += bytes;
    try {
      while (this.blocked()) await this.drained();
    } finally {
      this.waitingBytes -= bytes;
    }
    this.write(text);
  }

  /**
   * Waits until the buffer can take more, then writes what `frame()` makes, in the same turn as
   * the last check (with an await in between, a burst of writers would all pass the check). Making
   * the text only then means a stalled peer holds results, not serialized copies of them.
   */
  async send(frame: () => string): Promise<void> {
    while (this.blocked()) await this.drained();
    this.write(frame());
  }

  /** The connection closed: every waiting writer wakes up (and fails its next check). */
  wakeAll(): void {
    for (const w of this.drainWaiters.splice(0)) w();
  }

  /** True while the buffer is above the mark; throws once the connection is closed. */
  private blocked(): boolean {
    if (!this.isOpen()) throw new NetError("closed", `connection to ${this.remote} is closed`);
    return this.ws.bufferedAmount > this.highWaterBytes;
  }

  private drained(): Promise<void> {
    return new Promise<void>((resolve) => this.drainWaiters.push(resolve));
  }

  private write(text: string): void {
    if (!this.isOpen()) throw new NetError("closed", `connection to ${this.remote} is closed`);
    this.cork();
    this.ws.send(text, (err) => {
      if (err) this.log.debug("send failed", { remote: this.remote, err: err.message });
      // ws calls back once the bytes reach the kernel: the right moment to let writers resume.
      if (this.drainWaiters.length > 0 && this.ws.bufferedAmount <= this.highWaterBytes / 2) this.wakeAll();
    });
  }

  /**
   * Holds this tick's frames in the socket and writes them with one writev on the next tick:
   * pipelined calls and their answers then cost one syscall per batch instead of one per frame.
   */
  private cork(): void {
    if (this.corked) return;
    const socket = socketOf(this.ws);
    if (!socket || socket.destroyed) return;
    this.corked = true;
    socket.cork();
    process.nextTick(() => {
      this.corked = false;
      socket.uncork();
    });
  }
}

function socketOf(ws: WebSocket): Socket | undefined {
  // ws keeps its net.Socket private; corking it is the only way to batch frames into one write.
  return (ws as unknown as { _socket?: Socket })._socket;
}
