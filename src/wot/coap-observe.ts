// The RFC 7641 observe engine: relations, notification sequence numbers, CON/NON notifications,
// retransmission, and the ways a relation ends (deregistration, RST, retransmission timeout).
// Notifications are sent here rather than through node-coap so that every one's message id is
// known: the client's ACK, its RST and a retransmission timeout can then be matched to the observer.
// The registration's own 2.05 goes out through node-coap (see coap-routes.ts).
import { randomInt } from "node:crypto";
import { generate, type ParsedPacket } from "coap-packet";
import { UnavailableError } from "../util/errors.js";
import type { Logger } from "../log.js";
import { contentFormatId, uintOption } from "./coap-options.js";
import { coapProblemPayload } from "./error-status.js";
import { exchangeKey, MAX_SZX, type CoapBlockwise } from "./coap-blockwise.js";

export interface ObserveComponents {
  /** Sends one datagram; a failure is the sender's to log, a lost one is what retransmission is for. */
  send(buf: Buffer, port: number, address: string): void;
  logger: Logger;
  /** Cuts notifications larger than a block (RFC 7959 §2.6) and keeps them for follow-ups;
   * without it they are sent whole. */
  blocks?: CoapBlockwise;
}

export interface ObserveInit {
  /** Send CON notifications to CON registrations, so an observer that vanished without
   * deregistering is found by the retransmission timeout. */
  confirmable: boolean;
  /** RFC 7252 ACK_TIMEOUT, doubled over MAX_RETRANSMIT retries. */
  ackTimeoutMs: number;
  /** Notifications queued per CON observer while one is in flight; beyond it the oldest is dropped. */
  maxBacklog: number;
  /** Relations kept at most over all resources; more registrations are refused as unavailable. */
  maxObservers: number;
}

/** Where a registration came from: notifications go back there with its token. */
export interface Endpoint {
  address: string;
  port: number;
  token: Buffer;
  confirmable: boolean;
  /** The block size (SZX) the registration asked for with Block2; notifications larger than
   * the block go in blocks of it (RFC 7959 §2.6). Default 6, 1024 bytes. */
  blockSzx?: number;
}

/** The relations on one observable resource; every notification goes to all of them. */
export interface ObservedResource {
  readonly id: string;
  readonly observers: Map<string, Observer>;
  /** Its Uri-Path segments: follow-up requests for blocks of a notification name it. */
  readonly path: readonly string[];
  /** Called once the last relation has ended, so the resource can stop listening. */
  readonly onIdle: () => void;
}

interface Observer extends Endpoint {
  key: string;
  /** Last Observe sequence number sent (24 bit, RFC 7641 §4.4). */
  seq: number;
  /** A CON notification awaits its ACK; later ones wait in backlog. */
  inFlight: boolean;
  /** The client is fetching the rest of a notification sent as its first block; the next
   * notification waits, or the kept representation would change under the follow-ups. */
  fetching?: NodeJS.Timeout;
  backlog: Array<{ payload: Buffer; cf: number | undefined }>;
  resource: ObservedResource;
}

interface PendingNotification {
  observer: Observer;
  timer: NodeJS.Timeout;
}

// RFC 7252 §4.8 transmission parameters.
export const ACK_TIMEOUT_MS = 2000;
const ACK_RANDOM_FACTOR = 1.5;
const MAX_RETRANSMIT = 4;
// How long a NON notification's message id is remembered so a RST to it still finds the observer.
const NON_MEMORY_MS = 30_000;
const OBSERVE_MAX = 0xffffff;
// Without a block-wise layer notifications go whole; only what UDP cannot carry is refused.
const MAX_DATAGRAM = 65_507;
// How long the rest of a block-wise notification is waited for before the next one goes.
const FETCH_WAIT_MS = 5000;

export function observerKey(address: string, port: number, token: Buffer): string {
  return `${address}:${port}/${token.toString("hex")}`;
}

export class CoapObserveEngine {
  private readonly send: ObserveComponents["send"];
  private readonly blocks?: CoapBlockwise;
  private readonly log: Logger;
  private readonly init: ObserveInit;
  private readonly pending = new Map<string, PendingNotification>();
  private readonly all = new Set<Observer>();
  private messageId = randomInt(0, 0x10000);
  private relations = 0;
  private sent = 0;
  private dropped = 0;

  constructor(components: ObserveComponents, init: ObserveInit) {
    this.send = components.send;
    this.blocks = components.blocks;
    this.log = components.logger;
    this.init = init;
  }

  resource(id: string, onIdle: () => void, path: readonly string[] = []): ObservedResource {
    return { id, observers: new Map(), path, onIdle };
  }

  /** Live relations over all resources. */
  observerCount(): number {
    return this.relations;
  }

  /** Notifications sent (retransmissions not counted). */
  notificationCount(): number {
    return this.sent;
  }

  /** Notifications discarded because an observer's backlog was full. */
  droppedNotificationCount(): number {
    return this.dropped;
  }

  register(resource: ObservedResource, from: Endpoint): void {
    const key = observerKey(from.address, from.port, from.token);
    const existing = resource.observers.get(key);
    if (existing === undefined && this.relations >= this.init.maxObservers) {
      if (resource.observers.size === 0) resource.onIdle();
      throw new UnavailableError("too_many_observers", "too many observers");
    }
    // RFC 7641 §4.1: a repeated registration from the same endpoint and token replaces the old one.
    if (existing !== undefined) this.detach(existing);
    this.attach({
      ...from,
      token: Buffer.from(from.token),
      confirmable: this.init.confirmable && from.confirmable,
      key,
      seq: existing?.seq ?? 1,
      inFlight: false,
      backlog: [],
      resource,
    });
  }

  deregister(resource: ObservedResource, from: Omit<Endpoint, "confirmable">): void {
    const observer = resource.observers.get(observerKey(from.address, from.port, from.token));
    if (observer !== undefined) this.remove(observer, "deregistered");
  }

  /** Ends every relation on the resource without calling its onIdle: the caller is closing it. */
  close(resource: ObservedResource): void {
    for (const observer of [...resource.observers.values()]) this.detach(observer);
  }

  stop(): void {
    for (const p of this.pending.values()) clearTimeout(p.timer);
    this.pending.clear();
  }

  /**
   * Ends every relation with a final 5.03 (RFC 7641 §3.2, §4.2: a notification that is not 2.xx
   * ends the observation and carries no Observe option), so observers learn the server is
   * going away instead of waiting for notifications that never come. Sent once, not
   * retransmitted: the socket closes right after.
   */
  shutdown(): void {
    const payload = coapProblemPayload("5.03", "the server is stopping");
    for (const observer of [...this.all]) {
      this.messageId = (this.messageId + 1) & 0xffff;
      const buf = generate({
        code: "5.03",
        confirmable: observer.confirmable,
        messageId: this.messageId,
        token: observer.token,
        options: [{ name: "Content-Format", value: uintOption(50) }],
        payload,
      });
      this.send(buf, observer.port, observer.address);
      this.detach(observer);
    }
    this.stop();
  }

  /** Matches an empty ACK or RST to the notification it answers; false when it answers none of ours. */
  answer(packet: ParsedPacket, address: string, port: number): boolean {
    if (packet.code !== "0.00" || !(packet.ack || packet.reset)) return false;
    const key = pendingKey(address, port, packet.messageId);
    const pending = this.pending.get(key);
    if (pending === undefined) return false;
    clearTimeout(pending.timer);
    this.pending.delete(key);
    // RFC 7641 §3.6: a RST in reply to a notification cancels the observation.
    if (packet.reset) this.remove(pending.observer, "reset");
    else if (pending.observer.confirmable) this.acknowledged(pending.observer);
    return true;
  }

  notify(resource: ObservedResource, payload: Buffer, mediaType: string): void {
    const cf = contentFormatId(mediaType);
    for (const observer of [...resource.observers.values()]) {
      // Congestion control (RFC 7641 §4.5.1, NSTART=1): one CON notification in flight per
      // observer, the rest wait for its ACK. Unpaced bursts overflow the client's UDP buffer,
      // and a retransmitted older notification is then discarded as stale, so events were lost.
      if ((observer.confirmable && observer.inFlight) || observer.fetching !== undefined) {
        if (observer.backlog.length >= this.init.maxBacklog) {
          observer.backlog.shift();
          this.dropped += 1;
        }
        observer.backlog.push({ payload, cf });
      } else {
        this.transmit(observer, payload, cf);
      }
    }
  }

  private attach(observer: Observer): void {
    this.all.add(observer);
    observer.resource.observers.set(observer.key, observer);
    this.relations += 1;
  }

  private detach(observer: Observer): void {
    if (observer.resource.observers.get(observer.key) !== observer) return;
    observer.resource.observers.delete(observer.key);
    this.all.delete(observer);
    clearTimeout(observer.fetching);
    this.relations -= 1;
    for (const [key, p] of this.pending) {
      if (p.observer === observer) {
        clearTimeout(p.timer);
        this.pending.delete(key);
      }
    }
  }

  private remove(observer: Observer, why: string): void {
    const resource = observer.resource;
    if (resource.observers.get(observer.key) !== observer) return;
    this.detach(observer);
    this.log.debug("coap observer removed", { resource: resource.id, why });
    if (resource.observers.size === 0) resource.onIdle();
  }

  private transmit(observer: Observer, payload: Buffer, cf: number | undefined): void {
    const seq = (observer.seq + 1) & OBSERVE_MAX;
    const messageId = (this.messageId + 1) & 0xffff;
    const options = [{ name: "Observe", value: uintOption(seq) }];
    const szx = Math.min(observer.blockSzx ?? MAX_SZX, MAX_SZX);
    if (this.blocks !== undefined && payload.length > 1 << (szx + 4)) {
      // RFC 7959 §2.6: the notification carries the first block; the client asks for the rest
      // with GETs on the resource, answered from the kept representation.
      const kept = this.blocks.keep(
        this.blockKey(observer),
        {
          code: "2.05",
          payload,
          contentFormat: cf,
          observe: seq,
          onLastBlock: () => this.fetched(observer),
        },
        szx,
      );
      const first = this.blocks.firstBlock(kept, szx);
      options.push(...first.options);
      payload = first.payload;
      clearTimeout(observer.fetching);
      observer.fetching = setTimeout(() => this.fetched(observer), FETCH_WAIT_MS).unref();
    } else if (cf !== undefined) {
      options.push({ name: "Content-Format", value: uintOption(cf) });
    }
    // Encoded before any state changes, so a notification too large for UDP leaves none behind.
    const buf = generate(
      { code: "2.05", confirmable: observer.confirmable, messageId, token: observer.token, options, payload },
      MAX_DATAGRAM,
    );
    observer.seq = seq;
    this.messageId = messageId;
    this.sent += 1;
    const key = pendingKey(observer.address, observer.port, messageId);
    const send = (): void => this.send(buf, observer.port, observer.address);
    send();
    if (!observer.confirmable) {
      const timer = setTimeout(() => this.pending.delete(key), NON_MEMORY_MS).unref();
      this.pending.set(key, { observer, timer });
      return;
    }
    observer.inFlight = true;
    let attempt = 0;
    let timeout = this.init.ackTimeoutMs * (1 + Math.random() * (ACK_RANDOM_FACTOR - 1));
    const retransmit = (): void => {
      const p = this.pending.get(key);
      if (p === undefined) return;
      if (attempt >= MAX_RETRANSMIT) {
        // RFC 7641 §4.5: an unacknowledged CON notification ends the relation.
        this.pending.delete(key);
        this.remove(observer, "timeout");
        return;
      }
      attempt += 1;
      timeout *= 2;
      send();
      p.timer = setTimeout(retransmit, timeout).unref();
    };
    this.pending.set(key, { observer, timer: setTimeout(retransmit, timeout).unref() });
  }

  /** The observer's CON notification was acknowledged: send the next one waiting, if any. */
  private acknowledged(observer: Observer): void {
    observer.inFlight = false;
    if (observer.fetching === undefined) this.sendNext(observer);
  }

  /** The observer fetched the last block of a notification (or stopped trying). */
  private fetched(observer: Observer): void {
    clearTimeout(observer.fetching);
    observer.fetching = undefined;
    if (!(observer.confirmable && observer.inFlight)) this.sendNext(observer);
  }

  private sendNext(observer: Observer): void {
    if (observer.resource.observers.get(observer.key) !== observer) return;
    const next = observer.backlog.shift();
    if (next !== undefined) this.transmit(observer, next.payload, next.cf);
  }

  /** What a follow-up GET for the rest of a notification is matched by (see coap-blockwise.ts). */
  private blockKey(observer: Observer): string {
    const options = observer.resource.path.map((p) => ({ name: "Uri-Path", value: Buffer.from(p) }));
    return exchangeKey({ code: "0.01", options }, observer);
  }
}

function pendingKey(address: string, port: number, messageId: number): string {
  return `${address}:${port}/${messageId}`;
}
