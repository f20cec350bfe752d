// A node-wot ProtocolServer for CoAP, written on the `coap` package because the stock
// @node-wot/binding-coap 0.8.16 server breaks RFC 7641: an event registration is answered with an
// empty reply that ends the observation (upstream 1239), observeProperty can throw out of a stream
// callback (1233), Observe=1 deregistration is answered 5.01, and one Content stream is shared by
// every listener of a form, so a second observer gets an empty body.
//
// This file only puts the parts together and owns the socket; see README.md for the parts.
// Request/response exchanges (dedup of retransmitted CON requests, piggybacked ACKs) are left to
// node-coap's server; block-wise transfers are ours (coap-blockwise.ts).
import { createSocket, type RemoteInfo, type Socket } from "node:dgram";
import { isIPv6 } from "node:net";
import * as coap from "coap";
import type { ExposedThing, ProtocolServer, Servient } from "@node-wot/core";
import { silentLogger, type Logger } from "../log.js";
import { errorText } from "../util/errors.js";
import { coapBase, coapEntry, thingPathFromTitle, type BearerQuery, type ThingEntry } from "./coap-forms.js";
import { DatagramScreen } from "./coap-datagrams.js";
import { CoapBlockwise } from "./coap-blockwise.js";
import { MAX_INPUT_BYTES } from "./interactions.js";
import { CoapInputCheck } from "./coap-input.js";
import { ACK_TIMEOUT_MS, CoapObserveEngine } from "./coap-observe.js";
import { ObserveHubs } from "./coap-observe-hubs.js";
import { CoapRoutes, type Authorize } from "./coap-routes.js";

export { thingPathFromTitle } from "./coap-forms.js";

export interface FlowchainCoapServerOptions {
  /** Host advertised in the TD's CoAP forms (the node's advertised host, never a list of interfaces). */
  host: string;
  /** UDP port; 0 picks a free one (read it back with getPort()). Default 5683. */
  port?: number;
  /** Address the socket binds to. Default: the wildcard address of host's family. */
  bindAddress?: string;
  /** Decides admin-only actions (those whose security names a bearer scheme). Without it they are refused. */
  authorize?: Authorize;
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
  /** Largest request body, also over Block1 (RFC 7959); beyond it 4.13. Default the node's input limit. */
  maxBodyBytes?: number;
  /** Bytes of unfinished Block1 uploads kept over all clients; beyond it 5.03. Default 8 MiB. */
  maxPendingUploadBytes?: number;
  /** An unfinished Block1 upload is dropped when its next block is this late. Default 30000. */
  uploadTimeoutMs?: number;
  /** Bytes of large answers kept for their Block2 follow-ups (oldest dropped first). Default 32 MiB. */
  maxKeptAnswerBytes?: number;
  /** How long a large answer is kept for its Block2 follow-ups. Default 60000. */
  answerTtlMs?: number;
  logger?: Logger;
}

const PIGGYBACK_MS = 500;

export class FlowchainCoapServer implements ProtocolServer {
  readonly scheme = "coap";
  private readonly host: string;
  private readonly requestedPort: number;
  private readonly bindAddress: string;
  private readonly bearer: BearerQuery;
  private readonly log: Logger;
  private readonly things = new Map<string, ThingEntry>();
  private readonly engine: CoapObserveEngine;
  private readonly hubs: ObserveHubs;
  private readonly routes: CoapRoutes;
  private readonly screen: DatagramScreen;
  private readonly blocks: CoapBlockwise;
  private socket?: Socket;
  private server?: coap.Server;
  private boundPort = -1;

  constructor(options: FlowchainCoapServerOptions) {
    this.host = options.host;
    this.requestedPort = options.port ?? 5683;
    this.bindAddress = options.bindAddress ?? (isIPv6(options.host) ? "::" : "0.0.0.0");
    this.bearer = {
      tokenQueryName: options.tokenQueryName ?? "access_token",
      securityName: options.securityDefinitionName ?? "coap_bearer_sc",
    };
    const logger = options.logger ?? silentLogger;
    this.log = logger;
    const send = (buf: Buffer, port: number, address: string): void => this.sendTo(buf, port, address);
    this.blocks = new CoapBlockwise(
      { send },
      {
        maxBodyBytes: options.maxBodyBytes ?? MAX_INPUT_BYTES,
        maxPendingUploadBytes: options.maxPendingUploadBytes ?? 8 * 1024 * 1024,
        uploadTimeoutMs: options.uploadTimeoutMs ?? 30_000,
        maxKeptAnswerBytes: options.maxKeptAnswerBytes ?? 32 * 1024 * 1024,
        answerTtlMs: options.answerTtlMs ?? 60_000,
      },
    );
    this.engine = new CoapObserveEngine(
      { send, logger, blocks: this.blocks },
      {
        confirmable: options.confirmableNotifications ?? true,
        ackTimeoutMs: options.ackTimeoutMs ?? ACK_TIMEOUT_MS,
        maxBacklog: options.maxBacklog ?? 10_000,
        maxObservers: options.maxObservers ?? 10_000,
      },
    );
    this.hubs = new ObserveHubs({ engine: this.engine, logger });

    this.routes = new CoapRoutes(
      {
        things: this.things,
        engine: this.engine,
        hubs: this.hubs,
        input: new CoapInputCheck(),
        blocks: this.blocks,
        authorize: options.authorize,
        logger,
      },
      { tokenQueryName: this.bearer.tokenQueryName },
    );
    this.screen = new DatagramScreen({ engine: this.engine, blocks: this.blocks, send, logger });
  }

  async start(_servient: Servient): Promise<void> {
    if (this.socket !== undefined) throw new Error("CoAP server already started");
    const type = isIPv6(this.bindAddress) ? "udp6" : "udp4";
    const socket = createSocket({ type });
    await new Promise<void>((resolve, reject) => {
      socket.once("error", reject);
      socket.bind(this.requestedPort, this.bindAddress, () => {
        socket.off("error", reject);
        resolve();
      });
    });
    // A UDP socket error (e.g. ICMP-induced on some platforms) must never take the node down.
    socket.on("error", (err) => this.log.warn("coap socket error", { err: err.message }));
    guardSendAfterClose(socket);
    this.socket = socket;
    this.boundPort = socket.address().port;
    // Piggyback answers that take up to half a second (node-coap's default is 50 ms, after which it
    // sends an empty ACK and the answer separately). Clients retransmit only after ACK_TIMEOUT (2 s),
    // and libcoap 4.3's client cannot reassemble a separate response that comes in Block2 blocks
    // (a proof, a query page): it drops it as a "large body receive internal issue".
    const server = coap.createServer({ type, piggybackReplyMs: PIGGYBACK_MS }, (req, res) =>
      this.routes.handle(req, res),
    );
    // node-coap reads the socket itself; its handler is wrapped so every datagram is screened first.
    const nodeCoapHandler = server.handleRequest.bind(server);
    server.handleRequest = () => {
      const next = nodeCoapHandler();
      return (msg: Buffer, rsinfo) => this.screen.screen(msg, rsinfo as RemoteInfo, next);
    };
    server.on("error", (err: Error) => this.log.warn("coap server error", { err: err.message }));
    server.listen(socket);
    this.server = server;
    this.blocks.start();
  }

  async stop(): Promise<void> {
    this.engine.shutdown();
    // dgram sends to an IP address go out on the next tick; the final notifications must
    // leave before the socket closes.
    await new Promise((resolve) => setImmediate(resolve));
    this.blocks.stop();
    this.hubs.closeAll();
    const server = this.server;
    const socket = this.socket;
    this.server = undefined;
    this.socket = undefined;
    if (server !== undefined) await new Promise<void>((resolve) => server.close(() => resolve()));
    // node-coap may already have closed the socket it was given; closing it again throws "Not running".
    if (socket !== undefined) await closeQuietly(socket);
    this.boundPort = -1;
  }

  getPort(): number {
    return this.boundPort;
  }

  /** Number of live Observe relations (events and properties) over all exposed things. */
  observerCount(): number {
    return this.engine.observerCount();
  }

  /** Notifications sent since start (retransmissions not counted); for benchmarks. */
  notificationCount(): number {
    return this.engine.notificationCount();
  }

  /** Bytes held by unfinished Block1 uploads. */
  pendingUploadByteCount(): number {
    return this.blocks.pendingUploadByteCount();
  }

  /** Notifications discarded because an observer's backlog was full. */
  droppedNotificationCount(): number {
    return this.engine.droppedNotificationCount();
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
    this.things.set(path, coapEntry(thing, path, this.base(), this.bearer, tdTemplate));
    this.log.info("coap exposes thing", { title: thing.title, url: `${this.base()}/${path}` });
  }

  async destroy(thingId: string): Promise<boolean> {
    for (const [path, entry] of this.things) {
      if (entry.thing.id !== thingId) continue;
      this.hubs.closeThing(entry);
      this.things.delete(path);
      return true;
    }
    return false;
  }

  private base(): string {
    return coapBase(this.host, this.boundPort);
  }

  private sendTo(buf: Buffer, port: number, address: string): void {
    try {
      this.socket?.send(buf, port, address, (err) => {
        if (err) this.log.warn("coap send failed", { err: errorText(err) });
      });
    } catch (err) {
      // A timer that fires while the server stops finds the socket closed: nothing to send to.
      this.log.debug("coap send skipped", { err: errorText(err) });
    }
  }
}

function closeQuietly(socket: Socket): Promise<void> {
  return new Promise<void>((resolve) => {
    try {
      socket.close(() => resolve());
    } catch {
      resolve();
    }
  });
}

/**
 * node-coap keeps timers of its own (the separate ACK of a slow answer, retransmissions) that
 * server.close() does not clear; one firing after stop sends on the closed socket, and dgram
 * throws ERR_SOCKET_DGRAM_NOT_RUNNING from the timer, which would take the whole process down.
 * After close, a send is dropped instead.
 */
function guardSendAfterClose(socket: Socket): void {
  let open = true;
  socket.once("close", () => (open = false));
  const send = socket.send.bind(socket) as (...args: unknown[]) => void;
  Object.defineProperty(socket, "send", {
    value: (...args: unknown[]) => {
      if (open) send(...args);
    },
  });
}
