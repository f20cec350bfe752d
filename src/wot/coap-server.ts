// A node-wot ProtocolServer for CoAP, written on the `coap` package because the stock
// @node-wot/binding-coap 0.8.16 server breaks RFC 7641: an event registration is answered with an
// empty reply that ends the observation (upstream 1239), observeProperty can throw out of a stream
// callback (1233), Observe=1 deregistration is answered 5.01, and one Content stream is shared by
// every listener of a form, so a second observer gets an empty body.
//
// Request/response exchanges (dedup of retransmitted CON requests, piggybacked ACKs, Block2 for
// large TDs, Block1 uploads) are left to node-coap's server. Observe relations are kept here: the
// registration gets a 2.05 with an Observe option through node-coap, and every notification after
// that is encoded and sent by this class with its own message id, so the client's ACK, its RST
// and a retransmission timeout can be matched to the observer and end the relation.

import { createSocket, type RemoteInfo, type Socket } from "node:dgram";
import { isIPv6 } from "node:net";
import { Readable } from "node:stream";
import { randomInt } from "node:crypto";
import * as coap from "coap";
import wotCore from "@node-wot/core";
import type { Content, ExposedThing, ProtocolServer, Servient } from "@node-wot/core";
import { Ajv, type ValidateFunction } from "ajv";
import { silentLogger, type Logger } from "../log.js";
import { errorText } from "../util/errors.js";
import {
  CoapType,
  CoapOption,
  contentFormatId,
  decodeMessage,
  encodeMessage,
  uintOption,
  codeNumber,
  type WireMessage,
  type WireOption,
} from "./coap-wire.js";

const { ContentSerdes, Content: ContentClass } = wotCore;

type CoapRequest = coap.IncomingMessage;
type CoapResponse = coap.OutgoingMessage | coap.ObserveWriteStream;

export type AuthorizeResult = "ok" | "unauthenticated" | "forbidden";

export interface FlowchainCoapServerOptions {
  /** Host advertised in the TD's CoAP forms (the node's advertised host, never a list of interfaces). */
  host: string;
  /** UDP port; 0 picks a free one (read it back with getPort()). Default 5683. */
  port?: number;
  /** Address the socket binds to. Default: the wildcard address of host's family. */
  bindAddress?: string;
  /** Decides admin-only actions (those whose security names a bearer scheme). Without it they are refused. */
  authorize?: (thingName: string, actionName: string, token: string | undefined) => AuthorizeResult;
  /** URI query parameter that carries the bearer token over CoAP. Default "access_token". */
  tokenQueryName?: string;
  /** Name of the security definition added to the TD for CoAP's query-carried bearer token. */
  securityDefinitionName?: string;
  /** Send notifications as CON when the registration was CON (default true): a client that
   * vanished without deregistering is then detected by the retransmission timeout. */
  confirmableNotifications?: boolean;
  /** RFC 7252 ACK_TIMEOUT for CON notifications (doubling over MAX_RETRANSMIT=4 retries). Default 2000. */
  ackTimeoutMs?: number;
  /** Notifications queued per CON observer while one is in flight; beyond it the oldest is
   * dropped (and counted in droppedNotificationCount()). Default 10000. */
  maxBacklog?: number;
  /** Observe relations kept at most (all things together); more registrations get 5.03. Default 10000. */
  maxObservers?: number;
  logger?: Logger;
}

type AffordanceKind = "property" | "event";

interface CoapForm {
  href: string;
  contentType: string;
  op: string | string[];
  subprotocol?: string;
  security?: string[];
}

interface Observer {
  key: string;
  address: string;
  port: number;
  token: Buffer;
  confirmable: boolean;
  /** Last Observe sequence number sent (24 bit, RFC 7641 §4.4). */
  seq: number;
  /** A CON notification awaits its ACK; later ones wait in backlog. */
  inFlight: boolean;
  backlog: Array<{ payload: Buffer; cf: number | undefined }>;
  hub: ObserveHub;
}

// One node-wot listener per observed affordance, fanned out to all CoAP observers: node-wot hands
// the same Content stream to every listener of a form, so only one listener may read it.
interface ObserveHub {
  kind: AffordanceKind;
  name: string;
  entry: ThingEntry;
  observers: Map<string, Observer>;
  /** Index of our form when the listener was registered; unregistering must name the same one. */
  formIndex: number;
  listener: (content: Content) => void;
  /** Oversized notifications are reported once per relation set, not per event. */
  warnedLarge: boolean;
  /** Keeps notifications in emission order although reading a Content is asynchronous. */
  queue: Promise<void>;
  /** Registration with the ExposedThing; observers wait on it. */
  ready: Promise<void>;
}

interface PendingNotification {
  observer: Observer;
  timer: NodeJS.Timeout;
}

interface ThingEntry {
  path: string;
  thing: ExposedThing;
  adminActions: Set<string>;
  /** Our forms by "kind/name"; their index is looked up when needed because the Thing's owner
   * may prune other forms after expose(), which shifts indexes (pruning keeps form objects). */
  forms: Map<string, CoapForm>;
  hubs: Map<string, ObserveHub>;
}

class CoapReplyError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

// RFC 7252 §4.8 transmission parameters.
const ACK_TIMEOUT_MS = 2000;
const ACK_RANDOM_FACTOR = 1.5;
const MAX_RETRANSMIT = 4;
// How long a NON notification's message id is remembered so a RST to it still finds the observer.
const NON_MEMORY_MS = 30_000;
const OBSERVE_MAX = 0xffffff;
// RFC 7252 §4.6: 1152-byte messages, about 1024 bytes of payload.
const MAX_NOTIFICATION_PAYLOAD = 1024;

export function thingPathFromTitle(title: string): string {
  const slug = title
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-+|-+$/g, "");
  return slug.length > 0 ? slug : "thing";
}

function hostLiteral(host: string): string {
  return isIPv6(host) ? `[${host}]` : host;
}

export class FlowchainCoapServer implements ProtocolServer {
  readonly scheme = "coap";
  private readonly host: string;
  private readonly requestedPort: number;
  private readonly bindAddress: string;
  private readonly tokenQueryName: string;
  private readonly securityName: string;
  private readonly confirmableNotifications: boolean;
  private readonly maxObservers: number;
  private readonly ackTimeoutMs: number;
  private readonly maxBacklog: number;
  private readonly authorize?: FlowchainCoapServerOptions["authorize"];
  private readonly log: Logger;
  private readonly things = new Map<string, ThingEntry>();
  private readonly pending = new Map<string, PendingNotification>();
  private readonly ajv = new Ajv({ strict: false, allErrors: true, logger: false });
  private readonly validators = new WeakMap<object, ValidateFunction>();
  private socket?: Socket;
  private server?: coap.Server;
  private boundPort = -1;
  private messageId = randomInt(0, 0x10000);
  private notificationsSent = 0;
  private notificationsDropped = 0;

  constructor(options: FlowchainCoapServerOptions) {
    this.host = options.host;
    this.requestedPort = options.port ?? 5683;
    this.bindAddress = options.bindAddress ?? (isIPv6(options.host) ? "::" : "0.0.0.0");
    this.tokenQueryName = options.tokenQueryName ?? "access_token";
    this.securityName = options.securityDefinitionName ?? "coap_bearer_sc";
    this.confirmableNotifications = options.confirmableNotifications ?? true;
    this.authorize = options.authorize;
    this.maxObservers = options.maxObservers ?? 10_000;
    this.ackTimeoutMs = options.ackTimeoutMs ?? ACK_TIMEOUT_MS;
    this.maxBacklog = options.maxBacklog ?? 10_000;
    this.log = options.logger ?? silentLogger;
  }

  async start(_servient: Servient): Promise<void> {
    if (this.socket !== undefined) throw new Error("CoAP server already started");
    const socket = createSocket({ type: isIPv6(this.bindAddress) ? "udp6" : "udp4" });
    await new Promise<void>((resolve, reject) => {
      socket.once("error", reject);
      socket.bind(this.requestedPort, this.bindAddress, () => {
        socket.off("error", reject);
        resolve();
      });
    });
    // A UDP socket error (e.g. ICMP-induced on some platforms) must never take the node down.
    socket.on("error", (err) => this.log.warn("coap socket error", { err: err.message }));
    this.socket = socket;
    this.boundPort = socket.address().port;
    const server = coap.createServer({ type: isIPv6(this.bindAddress) ? "udp6" : "udp4" }, (req, res) =>
      this.onRequest(req, res),
    );
    // Screen every datagram before node-coap sees it: drop malformed ones (node-coap would answer
    // them with a 5.00 aimed at the wrong address) and consume ACK/RST for our own notifications.
    const nodeCoapHandler = server.handleRequest.bind(server);
    server.handleRequest = () => {
      const inner = nodeCoapHandler();
      return (msg: Buffer, rsinfo) => this.onDatagram(msg, rsinfo as RemoteInfo, inner);
    };
    server.on("error", (err: Error) => this.log.warn("coap server error", { err: err.message }));
    server.listen(socket);
    this.server = server;
  }

  async stop(): Promise<void> {
    for (const p of this.pending.values()) clearTimeout(p.timer);
    this.pending.clear();
    for (const entry of this.things.values()) {
      for (const hub of entry.hubs.values()) this.closeHub(hub);
    }
    const server = this.server;
    const socket = this.socket;
    this.server = undefined;
    this.socket = undefined;
    if (server !== undefined) await new Promise<void>((resolve) => server.close(() => resolve()));
    if (socket !== undefined) await new Promise<void>((resolve) => socket.close(() => resolve()));
    this.boundPort = -1;
  }

  getPort(): number {
    return this.boundPort;
  }

  /** Number of live Observe relations (events and properties) over all exposed things. */
  observerCount(): number {
    let n = 0;
    for (const entry of this.things.values()) for (const hub of entry.hubs.values()) n += hub.observers.size;
    return n;
  }

  /** Notifications sent since start (retransmissions not counted); for benchmarks. */
  notificationCount(): number {
    return this.notificationsSent;
  }

  /** Notifications discarded because an observer's backlog was full. */
  droppedNotificationCount(): number {
    return this.notificationsDropped;
  }

  /** The CoAP URL of a thing's TD, e.g. coap://host:5683/flowchain-node. */
  thingUrl(thingTitle: string): string | undefined {
    for (const entry of this.things.values()) {
      if (entry.thing.title === thingTitle) return `${this.base()}/${encodeURIComponent(entry.path)}`;
    }
    return undefined;
  }

  async expose(thing: ExposedThing, tdTemplate?: WoT.ThingDescription): Promise<void> {
    if (this.boundPort < 0) throw new Error("CoAP server must be started before exposing");
    let path = thingPathFromTitle(thing.title);
    for (let i = 2; this.things.has(path); i++) path = `${thingPathFromTitle(thing.title)}-${i}`;
    const entry: ThingEntry = {
      path,
      thing,
      adminActions: this.findAdminActions(thing, tdTemplate),
      forms: new Map(),
      hubs: new Map(),
    };
    this.addForms(entry);
    this.things.set(path, entry);
    this.log.info("coap exposes thing", { title: thing.title, url: `${this.base()}/${path}` });
  }

  async destroy(thingId: string): Promise<boolean> {
    for (const [path, entry] of this.things) {
      if (entry.thing.id !== thingId) continue;
      for (const hub of entry.hubs.values()) this.closeHub(hub);
      this.things.delete(path);
      return true;
    }
    return false;
  }

  // ---- TD forms -------------------------------------------------------------------------------

  private base(): string {
    return `coap://${hostLiteral(this.host)}:${this.boundPort}`;
  }

  // An action is admin-only when its security (affordance-level, or on a form of the template)
  // names a bearer scheme of the thing; its CoAP form then names our query-carried bearer scheme.
  private findAdminActions(thing: ExposedThing, tdTemplate?: WoT.ThingDescription): Set<string> {
    const defs = (thing.securityDefinitions ?? {}) as Record<string, { scheme?: string }>;
    const isBearer = (names: unknown): boolean =>
      (Array.isArray(names) ? names : typeof names === "string" ? [names] : []).some(
        (n) => typeof n === "string" && defs[n]?.scheme === "bearer",
      );
    const admin = new Set<string>();
    const templateActions = (tdTemplate?.actions ?? {}) as Record<
      string,
      { security?: unknown; forms?: unknown[] }
    >;
    for (const [name, action] of Object.entries(thing.actions)) {
      const candidates: unknown[] = [
        (action as { security?: unknown }).security,
        templateActions[name]?.security,
      ];
      for (const form of templateActions[name]?.forms ?? [])
        candidates.push((form as { security?: unknown }).security);
      if (candidates.some(isBearer)) admin.add(name);
    }
    if (admin.size > 0) {
      (thing.securityDefinitions as Record<string, unknown>)[this.securityName] = {
        scheme: "bearer",
        in: "query",
        name: this.tokenQueryName,
        description: "Admin credential; over CoAP it travels as a URI query parameter.",
      };
    }
    return admin;
  }

  private addForms(entry: ThingEntry): void {
    const base = `${this.base()}/${encodeURIComponent(entry.path)}`;
    const push = (affordance: { forms?: unknown[] }, form: CoapForm): CoapForm => {
      if (affordance.forms === undefined) affordance.forms = [];
      affordance.forms.push(form);
      return form;
    };
    for (const [name, property] of Object.entries(entry.thing.properties)) {
      const href = `${base}/properties/${encodeURIComponent(name)}`;
      const ops: string[] = [];
      if (property.writeOnly !== true) ops.push("readproperty");
      if (property.readOnly !== true) ops.push("writeproperty");
      if (ops.length > 0) {
        entry.forms.set(
          `property/${name}`,
          push(property, { href, contentType: "application/json", op: ops }),
        );
      }
      if (property.observable === true) {
        const form = {
          href,
          contentType: "application/json",
          op: ["observeproperty", "unobserveproperty"],
          subprotocol: "cov:observe",
        };
        entry.forms.set(`observe/${name}`, push(property, form));
      }
    }
    for (const [name, action] of Object.entries(entry.thing.actions)) {
      const form: CoapForm = {
        href: `${base}/actions/${encodeURIComponent(name)}`,
        contentType: "application/json",
        op: "invokeaction",
      };
      if (entry.adminActions.has(name)) form.security = [this.securityName];
      entry.forms.set(`action/${name}`, push(action, form));
    }
    for (const [name, event] of Object.entries(entry.thing.events)) {
      const form = {
        href: `${base}/events/${encodeURIComponent(name)}`,
        contentType: "application/json",
        op: ["subscribeevent", "unsubscribeevent"],
        subprotocol: "cov:observe",
      };
      entry.forms.set(`event/${name}`, push(event, form));
    }
  }

  private formIndex(
    entry: ThingEntry,
    kind: "property" | "observe" | "action" | "event",
    name: string,
  ): number {
    const form = entry.forms.get(`${kind}/${name}`);
    const affordance =
      kind === "action"
        ? entry.thing.actions[name]
        : kind === "event"
          ? entry.thing.events[name]
          : entry.thing.properties[name];
    const forms = (affordance?.forms ?? []) as unknown[];
    const exact = form === undefined ? -1 : forms.indexOf(form);
    if (exact >= 0) return exact;
    // The forms were replaced by copies: match on what we wrote.
    const same = forms.findIndex(
      (f) =>
        (f as CoapForm).href === form?.href &&
        JSON.stringify((f as CoapForm).op) === JSON.stringify(form?.op),
    );
    return same >= 0 ? same : 0;
  }

  // ---- datagram screening and our own notifications ------------------------------------------

  private onDatagram(
    msg: Buffer,
    rsinfo: RemoteInfo,
    inner: (msg: Buffer, rsinfo: RemoteInfo) => void,
  ): void {
    try {
      const decoded = decodeMessage(msg);
      if (decoded === undefined) return; // RFC 7252 §4.2: malformed messages are silently ignored
      if (decoded.code === 0 && decoded.type === CoapType.CON) {
        // An empty CON is a CoAP ping (RFC 7252 §4.3), answered with a RST; node-coap would
        // treat it as a request without a method.
        this.sendTo(
          encodeMessage({
            type: CoapType.RST,
            code: 0,
            messageId: decoded.messageId,
            token: Buffer.alloc(0),
            options: [],
            payload: Buffer.alloc(0),
          }),
          rsinfo.port,
          rsinfo.address,
        );
        return;
      }
      if ((decoded.type === CoapType.ACK || decoded.type === CoapType.RST) && decoded.code === 0) {
        const key = `${rsinfo.address}:${rsinfo.port}/${decoded.messageId}`;
        const pending = this.pending.get(key);
        if (pending !== undefined) {
          clearTimeout(pending.timer);
          this.pending.delete(key);
          // RFC 7641 §3.6: a RST in reply to a notification cancels the observation.
          if (decoded.type === CoapType.RST) this.removeObserver(pending.observer, "reset");
          else if (pending.observer.confirmable) this.acknowledged(pending.observer);
          return;
        }
      }
      inner(msg, rsinfo);
    } catch (err) {
      this.log.warn("coap datagram dropped", { err: (err as Error).message });
    }
  }

  private nextMessageId(): number {
    this.messageId = (this.messageId + 1) & 0xffff;
    return this.messageId;
  }

  private notify(hub: ObserveHub, payload: Buffer, mediaType: string): void {
    if (this.socket === undefined) return;
    if (payload.length > MAX_NOTIFICATION_PAYLOAD && !hub.warnedLarge) {
      hub.warnedLarge = true;
      // Notifications are sent whole (no Block2); constrained clients may drop what exceeds
      // one RFC 7252 datagram.
      this.log.warn("coap notification larger than one datagram", {
        resource: `${hub.kind}/${hub.name}`,
        bytes: payload.length,
      });
    }
    const cf = contentFormatId(mediaType);
    for (const observer of [...hub.observers.values()]) {
      if (!observer.confirmable) {
        this.transmit(observer, payload, cf);
        continue;
      }
      // Congestion control (RFC 7641 §4.5.1, NSTART=1): one CON notification in flight per
      // observer, the rest wait for its ACK. Unpaced bursts overflow the client's UDP buffer,
      // and a retransmitted older notification is then discarded as stale, so events were lost.
      if (observer.inFlight) {
        if (observer.backlog.length >= this.maxBacklog) {
          observer.backlog.shift();
          this.notificationsDropped += 1;
        }
        observer.backlog.push({ payload, cf });
      } else {
        this.transmit(observer, payload, cf);
      }
    }
  }

  private transmit(observer: Observer, payload: Buffer, cf: number | undefined): void {
    observer.seq = (observer.seq + 1) & OBSERVE_MAX;
    const options: WireOption[] = [{ number: CoapOption.Observe, value: uintOption(observer.seq) }];
    if (cf !== undefined) options.push({ number: CoapOption.ContentFormat, value: uintOption(cf) });
    const message: WireMessage = {
      type: observer.confirmable ? CoapType.CON : CoapType.NON,
      code: codeNumber("2.05"),
      messageId: this.nextMessageId(),
      token: observer.token,
      options,
      payload,
    };
    const buf = encodeMessage(message);
    const key = `${observer.address}:${observer.port}/${message.messageId}`;
    this.notificationsSent += 1;
    this.sendRaw(buf, observer);
    if (!observer.confirmable) {
      const timer = setTimeout(() => this.pending.delete(key), NON_MEMORY_MS).unref();
      this.pending.set(key, { observer, timer });
      return;
    }
    observer.inFlight = true;
    let attempt = 0;
    let timeout = this.ackTimeoutMs * (1 + Math.random() * (ACK_RANDOM_FACTOR - 1));
    const retransmit = (): void => {
      if (!this.pending.has(key)) return;
      if (attempt >= MAX_RETRANSMIT) {
        // RFC 7641 §4.5: an unacknowledged CON notification ends the relation.
        this.pending.delete(key);
        this.removeObserver(observer, "timeout");
        return;
      }
      attempt += 1;
      timeout *= 2;
      this.sendRaw(buf, observer);
      const p = this.pending.get(key);
      if (p !== undefined) p.timer = setTimeout(retransmit, timeout).unref();
    };
    this.pending.set(key, { observer, timer: setTimeout(retransmit, timeout).unref() });
  }

  /** The observer's CON notification was acknowledged: send the next one waiting, if any. */
  private acknowledged(observer: Observer): void {
    observer.inFlight = false;
    if (observer.hub.observers.get(observer.key) !== observer) return;
    const next = observer.backlog.shift();
    if (next !== undefined) this.transmit(observer, next.payload, next.cf);
  }

  private sendRaw(buf: Buffer, observer: Observer): void {
    this.sendTo(buf, observer.port, observer.address);
  }

  private sendTo(buf: Buffer, port: number, address: string): void {
    this.socket?.send(buf, port, address, (err) => {
      if (err) this.log.warn("coap send failed", { err: err.message });
    });
  }

  private removeObserver(observer: Observer, why: string): void {
    const hub = observer.hub;
    if (hub.observers.get(observer.key) !== observer) return;
    hub.observers.delete(observer.key);
    this.dropPending(observer);
    this.log.debug("coap observer removed", { resource: `${hub.kind}/${hub.name}`, why });
    if (hub.observers.size === 0) this.closeHub(hub);
  }

  private hubFor(entry: ThingEntry, kind: AffordanceKind, name: string): ObserveHub {
    const id = `${kind}/${name}`;
    const existing = entry.hubs.get(id);
    if (existing !== undefined) return existing;
    const hub: ObserveHub = {
      kind,
      name,
      entry,
      observers: new Map(),
      formIndex: this.formIndex(entry, kind === "event" ? "event" : "observe", name),
      queue: Promise.resolve(),
      ready: Promise.resolve(),
      warnedLarge: false,
      listener: (content) => {
        hub.queue = hub.queue.then(async () => {
          try {
            const payload = await content.toBuffer();
            this.notify(hub, payload, content.type);
          } catch (err) {
            this.log.warn("coap notification dropped", { resource: id, err: (err as Error).message });
          }
        });
      },
    };
    const options = { formIndex: hub.formIndex };
    hub.ready =
      kind === "event"
        ? entry.thing.handleSubscribeEvent(name, hub.listener, options)
        : entry.thing.handleObserveProperty(name, hub.listener, options);
    // A failed registration (e.g. a subscribe handler that threw) must not stick: the caller
    // sees the rejection, and the next registration tries afresh.
    hub.ready.catch(() => {
      if (entry.hubs.get(id) === hub) entry.hubs.delete(id);
    });
    entry.hubs.set(id, hub);
    return hub;
  }

  private closeHub(hub: ObserveHub): void {
    const { entry, kind, name } = hub;
    if (entry.hubs.get(`${kind}/${name}`) !== hub) return;
    entry.hubs.delete(`${kind}/${name}`);
    for (const observer of hub.observers.values()) this.dropPending(observer);
    hub.observers.clear();
    const options = { formIndex: hub.formIndex };
    // Unregistering must not throw out of a timer or packet handler (upstream 1233).
    hub.ready
      .then(() => {
        if (kind === "event") entry.thing.handleUnsubscribeEvent(name, hub.listener, options);
        else entry.thing.handleUnobserveProperty(name, hub.listener, options);
      })
      .catch((err: unknown) => this.log.debug("coap unobserve failed", { err: (err as Error).message }));
  }

  // ---- requests -------------------------------------------------------------------------------

  private onRequest(req: CoapRequest, res: CoapResponse): void {
    // node-coap emits 'error' on a response whose packet cannot be generated or whose CON
    // retransmission timed out; an unhandled 'error' event would crash the process.
    res.on("error", (err: Error) => this.log.debug("coap response error", { err: err.message }));
    this.route(req, res).catch((err: unknown) => {
      if (err instanceof CoapReplyError) {
        this.replyError(res, err.code, err.message);
        return;
      }
      const e = err as Error;
      const code = mapErrorToCode(e);
      if (code === "5.00") this.log.warn("coap handler failed", { url: req.url, err: errorText(err) });
      this.replyError(res, code, code === "5.00" ? "internal error" : (e?.message ?? String(err)));
    });
  }

  private async route(req: CoapRequest, res: CoapResponse): Promise<void> {
    let url: URL;
    let segments: string[];
    try {
      url = new URL(req.url, "coap://localhost");
      segments = url.pathname
        .split("/")
        .filter((s) => s.length > 0)
        .map((s) => decodeURIComponent(s));
    } catch {
      throw new CoapReplyError("4.00", "malformed URI path");
    }
    const method = req.method;
    if (segments.length === 2 && segments[0] === ".well-known" && segments[1] === "core") {
      if (method !== "GET") throw new CoapReplyError("4.05", "only GET is allowed on /.well-known/core");
      this.reply(res, "2.05", Buffer.from(this.linkFormat()), "application/link-format");
      return;
    }
    const entry = segments.length > 0 ? this.things.get(segments[0]!) : undefined;
    if (entry === undefined) throw new CoapReplyError("4.04", `no resource at ${url.pathname}`);
    if (segments.length === 1) {
      if (method !== "GET") throw new CoapReplyError("4.05", "only GET is allowed on a Thing Description");
      await this.serveTd(entry, req, res);
      return;
    }
    if (segments.length !== 3) throw new CoapReplyError("4.04", `no resource at ${url.pathname}`);
    const [, dir, name] = segments as [string, string, string];
    switch (dir) {
      case "properties":
        return this.handleProperty(entry, name, req, res);
      case "actions":
        return this.handleAction(entry, name, url, req, res);
      case "events":
        return this.handleEvent(entry, name, req, res);
      default:
        throw new CoapReplyError("4.04", `no resource at ${url.pathname}`);
    }
  }

  private linkFormat(): string {
    return [...this.things.values()]
      .map(
        (e) =>
          `</${encodeURIComponent(e.path)}>;rt="wot.thing";ct=432;title="${e.thing.title.replace(/"/g, "")}"`,
      )
      .join(",");
  }

  private async serveTd(entry: ThingEntry, req: CoapRequest, res: CoapResponse): Promise<void> {
    const accept = req.headers.Accept;
    let mediaType = "application/td+json";
    if (accept === "application/json" || accept === 50) mediaType = "application/json";
    else if (accept !== undefined && accept !== "application/td+json" && accept !== 432) {
      throw new CoapReplyError(
        "4.06",
        "the TD is available as application/td+json (432) or application/json (50)",
      );
    }
    this.reply(res, "2.05", Buffer.from(JSON.stringify(entry.thing.getThingDescription())), mediaType);
  }

  private async handleProperty(
    entry: ThingEntry,
    name: string,
    req: CoapRequest,
    res: CoapResponse,
  ): Promise<void> {
    const property = entry.thing.properties[name];
    if (property === undefined) throw new CoapReplyError("4.04", `no property ${name}`);
    const formIndex = this.formIndex(entry, "property", name);
    if (req.method === "GET") {
      if (property.writeOnly === true) throw new CoapReplyError("4.05", `property ${name} is write-only`);
      const observe = req.headers.Observe;
      const key = observerKey(req);
      if (observe === 1) this.deregister(entry, "property", name, key);
      const content = await entry.thing.handleReadProperty(name, { formIndex });
      const payload = await content.toBuffer();
      if (observe === 0 && property.observable === true) {
        const hub = this.hubFor(entry, "property", name);
        await hub.ready;
        this.register(hub, req, key);
        this.replyObserve(res as coap.ObserveWriteStream, payload, content.type);
        return;
      }
      this.reply(res, "2.05", payload, content.type);
      return;
    }
    if (req.method === "PUT") {
      if (property.readOnly === true) throw new CoapReplyError("4.05", `property ${name} is read-only`);
      const { mediaType } = this.decodeInput(req, property as WoT.DataSchema, `property ${name}`, true);
      await entry.thing.handleWriteProperty(name, new ContentClass(mediaType, Readable.from([req.payload])), {
        formIndex,
      });
      this.reply(res, "2.04");
      return;
    }
    throw new CoapReplyError("4.05", `use GET or PUT on property ${name}`);
  }

  private async handleAction(
    entry: ThingEntry,
    name: string,
    url: URL,
    req: CoapRequest,
    res: CoapResponse,
  ): Promise<void> {
    const action = entry.thing.actions[name];
    if (action === undefined) throw new CoapReplyError("4.04", `no action ${name}`);
    if (req.method !== "POST") throw new CoapReplyError("4.05", `use POST to invoke action ${name}`);
    if (entry.adminActions.has(name)) {
      const token = url.searchParams.get(this.tokenQueryName) ?? undefined;
      const verdict = this.authorize?.(entry.thing.title, name, token) ?? "unauthenticated";
      if (verdict === "unauthenticated") {
        throw new CoapReplyError("4.01", `action ${name} needs the admin token in ?${this.tokenQueryName}=`);
      }
      if (verdict === "forbidden")
        throw new CoapReplyError("4.03", `this token may not invoke action ${name}`);
    }
    const schema = action.input as WoT.DataSchema | undefined;
    const { mediaType } = this.decodeInput(req, schema, `action ${name}`, false);
    const output = await entry.thing.handleInvokeAction(
      name,
      new ContentClass(mediaType, Readable.from([req.payload])),
      { formIndex: this.formIndex(entry, "action", name) },
    );
    if (output === undefined || output === null) {
      this.reply(res, "2.04");
      return;
    }
    this.reply(res, "2.05", await output.toBuffer(), output.type);
  }

  private async handleEvent(
    entry: ThingEntry,
    name: string,
    req: CoapRequest,
    res: CoapResponse,
  ): Promise<void> {
    if (entry.thing.events[name] === undefined) throw new CoapReplyError("4.04", `no event ${name}`);
    if (req.method !== "GET")
      throw new CoapReplyError("4.05", `use GET with Observe to subscribe to event ${name}`);
    const observe = req.headers.Observe;
    const key = observerKey(req);
    if (observe === 0) {
      const hub = this.hubFor(entry, "event", name);
      await hub.ready;
      this.register(hub, req, key);
      // Events have no current state: the registration is confirmed by an empty 2.05 carrying the
      // Observe option; every emitted event then follows as one notification.
      this.replyObserve(res as coap.ObserveWriteStream, Buffer.alloc(0), undefined);
      return;
    }
    if (observe === 1) {
      this.deregister(entry, "event", name, key);
      this.reply(res, "2.05");
      return;
    }
    throw new CoapReplyError("4.00", `event ${name} is observed: send GET with Observe 0`);
  }

  private register(hub: ObserveHub, req: CoapRequest, key: string): void {
    const existing = hub.observers.get(key);
    if (existing === undefined && this.observerCount() >= this.maxObservers) {
      if (hub.observers.size === 0) this.closeHub(hub);
      throw new CoapReplyError("5.03", "too many observers");
    }
    // RFC 7641 §4.1: a repeated registration from the same endpoint and token replaces the old one.
    const observer: Observer = {
      key,
      address: req.rsinfo.address,
      port: req.rsinfo.port,
      token: Buffer.from(req._packet.token ?? Buffer.alloc(0)),
      confirmable: this.confirmableNotifications && req._packet.confirmable === true,
      seq: existing?.seq ?? 1,
      inFlight: false,
      backlog: [],
      hub,
    };
    if (existing !== undefined) this.removeObserverQuietly(existing);
    hub.observers.set(key, observer);
    if (existing === undefined) observer.seq = 1;
  }

  private dropPending(observer: Observer): void {
    for (const [key, p] of this.pending) {
      if (p.observer === observer) {
        clearTimeout(p.timer);
        this.pending.delete(key);
      }
    }
  }

  private removeObserverQuietly(observer: Observer): void {
    observer.hub.observers.delete(observer.key);
    this.dropPending(observer);
  }

  private deregister(entry: ThingEntry, kind: AffordanceKind, name: string, key: string): void {
    const hub = entry.hubs.get(`${kind}/${name}`);
    const observer = hub?.observers.get(key);
    if (observer !== undefined) this.removeObserver(observer, "deregistered");
  }

  /** Checks a request payload against its data schema; throws 4.00/4.15 before any handler runs. */
  private decodeInput(
    req: CoapRequest,
    schema: WoT.DataSchema | undefined,
    what: string,
    required: boolean,
  ): { mediaType: string; value: unknown } {
    const cf = req.headers["Content-Format"];
    const mediaType = typeof cf === "string" ? cf : cf === undefined ? "application/json" : String(cf);
    if (!ContentSerdes.get().isSupported(mediaType)) {
      throw new CoapReplyError("4.15", `unsupported Content-Format ${mediaType}`);
    }
    const payload = req.payload ?? Buffer.alloc(0);
    if (payload.length === 0) {
      if (schema !== undefined || required)
        throw new CoapReplyError("4.00", `${what} needs an input payload`);
      return { mediaType, value: undefined };
    }
    if (schema === undefined) return { mediaType, value: undefined };
    let value: unknown;
    try {
      value = ContentSerdes.get().contentToValue({ type: mediaType, body: payload }, schema);
    } catch (err) {
      throw new CoapReplyError("4.00", `malformed ${mediaType} input for ${what}: ${(err as Error).message}`);
    }
    const validate = this.validatorFor(schema);
    if (!validate(value)) {
      throw new CoapReplyError(
        "4.00",
        `invalid input for ${what}: ${this.ajv.errorsText(validate.errors, { dataVar: "input" })}`,
      );
    }
    return { mediaType, value };
  }

  private validatorFor(schema: WoT.DataSchema): ValidateFunction {
    let validate = this.validators.get(schema);
    if (validate === undefined) {
      validate = this.ajv.compile(stripTdKeywords(schema));
      this.validators.set(schema, validate);
    }
    return validate;
  }

  private replyObserve(res: coap.ObserveWriteStream, payload: Buffer, mediaType: string | undefined): void {
    const cf = mediaType === undefined ? undefined : contentFormatId(mediaType);
    if (cf !== undefined && payload.length > 0) res.setOption("Content-Format", cf);
    res.statusCode = "2.05";
    // write() stamps Observe (1 for the first message); ending afterwards sends nothing more.
    res.write(payload);
    res.end();
  }

  private reply(res: CoapResponse, code: string, payload?: Buffer, mediaType?: string): void {
    const cf = mediaType === undefined ? undefined : contentFormatId(mediaType);
    if (cf !== undefined) res.setOption("Content-Format", cf);
    res.statusCode = code;
    res.code = code;
    if (res instanceof coap.ObserveWriteStream) {
      // The request asked to observe, but this reply does not start an observation (an error,
      // or a resource that cannot be observed): RFC 7641 §4.2 says it must carry no Observe
      // option, and ObserveWriteStream.write() would add one, so send the packet directly and
      // mark the stream as used so end() sends nothing more.
      res._doSend(payload);
      res._counter = 1;
      res.end();
      return;
    }
    res.end(payload);
  }

  private replyError(res: CoapResponse, code: string, message: string): void {
    try {
      const body = Buffer.from(JSON.stringify({ error: code, message }));
      this.reply(res, code, body, "application/json");
    } catch (err) {
      this.log.debug("coap error reply failed", { err: (err as Error).message });
    }
  }
}

function observerKey(req: CoapRequest): string {
  const token = req._packet.token ?? Buffer.alloc(0);
  return `${req.rsinfo.address}:${req.rsinfo.port}/${token.toString("hex")}`;
}

/** Maps the project's error classes (by name, so copies from other packages match too) to CoAP codes. */
export function mapErrorToCode(err: unknown): string {
  const e = err as { name?: string; code?: string } | undefined;
  switch (e?.name) {
    case "InputError":
      return "4.00";
    case "AuthError":
      return e.code === "forbidden" ? "4.03" : "4.01";
    case "NotFoundError":
      return "4.04";
    default:
      return "5.00";
  }
}

// TD data schemas carry annotations (forms, @type, readOnly on affordances...) that are not JSON
// Schema; ajv runs non-strict so unknown keywords are ignored, but `forms`/`uriVariables` hold
// objects ajv must not descend into.
function stripTdKeywords(schema: WoT.DataSchema): object {
  const copy: Record<string, unknown> = { ...(schema as Record<string, unknown>) };
  delete copy.forms;
  delete copy.uriVariables;
  delete copy["@type"];
  return copy;
}
