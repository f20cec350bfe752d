// A node-wot ProtocolClient for CoAP. The stock @node-wot/binding-coap 0.8.16 client cannot be
// used for events: it passes the registration's empty 2.05 to the listener as an event (which
// fails to parse and, with the stock server, is the only reply, upstream 1239); ConsumedThing's
// unsubscribe calls unlinkResource(), which the stock client implements as a plain GET that
// neither deregisters nor stops the stream it opened, so delivery goes on; and it resolves every
// request whatever the response code, so a 4.00 comes back as if it were the action's output.
//
// This client keeps each Observe relation it opens, skips a registration response that carries
// the current state (a property's), takes an event's separate first response as its first
// occurrence, delivers one callback per notification, and on unlinkResource() stops delivery at once, sends the RFC
// 7641 deregistration (GET with Observe=1 and the same token) and closes the stream, so any
// notification already in flight is answered with a RST by node-coap's agent.

import { createSocket, type Socket } from "node:dgram";
import { randomInt } from "node:crypto";
import { isIP, isIPv6 } from "node:net";
import { Readable } from "node:stream";
import * as coap from "coap";
import { generate, parse } from "coap-packet";
import { UnavailableError } from "../util/errors.js";
import wotCore from "@node-wot/core";
import { BLOCK_SIZE, MAX_SZX } from "./coap-blockwise.js";
import type { Content, Form, ProtocolClient, ProtocolClientFactory, SecurityScheme } from "@node-wot/core";

const { Content: ContentClass } = wotCore;

type Subscription = Awaited<ReturnType<ProtocolClient["subscribeResource"]>>;

/** Thrown for CoAP error responses (4.xx/5.xx); `code` is the CoAP code, message the server's text. */
export class CoapResponseError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = "CoapResponseError";
  }
}

interface Target {
  hostname: string;
  port: number;
  pathname: string;
  query: string;
  family: "udp4" | "udp6";
}

interface ActiveObservation {
  href: string;
  target: Target;
  /** Ends the subscription with an error (the server said 4.xx/5.xx, or went silent). */
  fail: (err: Error) => void;
  /** Set when the first response arrives, which for an event is its first occurrence. */
  stream?: coap.ObserveReadStream;
  token: Buffer;
  closed: boolean;
}

// How long unlinkResource waits for the server to confirm a deregistration; delivery has
// already stopped locally, so this only bounds how long the caller's promise can hang.
const DEREGISTER_TIMEOUT_MS = 5000;

export interface FlowchainCoapClientOptions {
  /** A request (or an event registration) with no answer within this time fails. Default 15000. */
  timeoutMs?: number;
  /** While observing, each server is pinged (CoAP ping, answered by RST) this often; one silent
   * for three intervals ends its subscriptions with an error. Default 10000. */
  livenessIntervalMs?: number;
}

interface Endpoint {
  agent: coap.Agent;
  socket: Socket;
}

export class FlowchainCoapClient implements ProtocolClient {
  private readonly endpoints = new Map<"udp4" | "udp6", Endpoint>();
  private readonly observations = new Map<string, Set<ActiveObservation>>();
  /** When each server ("host|port") was last heard from, for the liveness check. */
  private readonly lastHeard = new Map<string, number>();
  private readonly timeoutMs: number;
  private readonly livenessIntervalMs: number;
  private liveness?: NodeJS.Timeout;
  private token?: string;
  private tokenQueryName = "access_token";

  constructor(options: FlowchainCoapClientOptions = {}) {
    this.timeoutMs = options.timeoutMs ?? 15_000;
    this.livenessIntervalMs = options.livenessIntervalMs ?? 10_000;
  }

  toString(): string {
    return "[FlowchainCoapClient]";
  }

  async readResource(form: Form): Promise<Content> {
    const res = await this.exchange(form, "GET");
    return this.toContent(res, form);
  }

  async writeResource(form: Form, content: Content): Promise<void> {
    await this.exchange(form, "PUT", content);
  }

  async invokeResource(form: Form, content?: Content): Promise<Content> {
    const res = await this.exchange(form, "POST", content);
    return this.toContent(res, form);
  }

  async unlinkResource(form: Form): Promise<void> {
    const active = this.observations.get(form.href);
    if (active === undefined) return;
    this.observations.delete(form.href);
    await Promise.all([...active].map((o) => this.deregister(o)));
  }

  async subscribeResource(
    form: Form,
    next: (content: Content) => void,
    error?: (error: Error) => void,
    complete?: () => void,
  ): Promise<Subscription> {
    const target = this.target(form.href, form);
    const req = this.agent(target.family).request({
      ...target,
      method: "GET",
      observe: true,
      confirmable: true,
    });
    const observation: ActiveObservation = {
      href: form.href,
      target,
      token: Buffer.alloc(0),
      closed: false,
      fail: (err) => {
        if (observation.closed) return;
        observation.closed = true;
        this.observations.get(form.href)?.delete(observation);
        observation.stream?.close();
        error?.(err);
      },
    };
    const deliver = (stream: coap.ObserveReadStream): void => {
      observation.stream = stream;
      // A response piggybacked on the ACK answers the registration with the current state (a
      // property's value); only what follows is a change. A separate response (how events are
      // answered, having no state) is itself the first delivery.
      let skip = stream._packet.ack === true;
      stream.on("data", (payload: Buffer) => {
        if (skip) {
          skip = false;
          return;
        }
        if (observation.closed) return;
        const cf = stream.headers["Content-Format"];
        const type = typeof cf === "string" ? cf : (form.contentType ?? "application/json");
        next(new ContentClass(type, Readable.from([payload])));
      });
      stream.on("error", (err: Error) => error?.(err));
      stream.on("close", () => {
        if (!observation.closed) complete?.();
      });
      if (observation.closed) stream.close();
    };
    await new Promise<void>((resolve, reject) => {
      let settled = false;
      const timer = setTimeout(
        () => settle(new UnavailableError("timeout", `no answer from ${form.href} in ${this.timeoutMs} ms`)),
        this.timeoutMs,
      );
      const settle = (err?: Error): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (err === undefined) resolve();
        else {
          req.sender.reset();
          reject(err);
        }
      };
      req.on("response", (res: coap.IncomingMessage) => {
        if (!res.code.startsWith("2.")) {
          // node-coap opens an observe stream for most error replies too; close it so the agent
          // forgets the token instead of holding its socket open.
          if (res instanceof coap.ObserveReadStream) res.close();
          const err = new CoapResponseError(
            res.code,
            `${res.code} from ${form.href}: ${res.payload.toString("utf8")}`,
          );
          if (settled) observation.fail(err);
          settle(err);
          return;
        }
        deliver(res as coap.ObserveReadStream);
        settle();
      });
      req.on("error", (err: Error) => {
        if (settled) observation.fail(err);
        settle(err);
      });
      // node-coap's agent resets the request's retransmission when the server acknowledges it,
      // and tells nothing else about an empty ACK: the registration is accepted then, even if its
      // response (the first event) comes later. A piggybacked response is handled in the same
      // tick, before this check runs.
      const sender = req.sender as { reset: () => void };
      const reset = sender.reset.bind(sender);
      sender.reset = () => {
        reset();
        setImmediate(() => settle());
      };
      req.end();
      observation.token = Buffer.from(req._packet.token ?? Buffer.alloc(0));
    });
    let set = this.observations.get(form.href);
    if (set === undefined) {
      set = new Set();
      this.observations.set(form.href, set);
    }
    set.add(observation);
    this.lastHeard.set(serverKey(target), Date.now());
    this.liveness ??= setInterval(() => this.checkLiveness(), this.livenessIntervalMs).unref();
    const unsubscribe = (): void => {
      this.observations.get(form.href)?.delete(observation);
      void this.deregister(observation);
    };
    // ConsumedThing ignores this object (it calls unlinkResource instead); it is still a working
    // handle for direct users. rxjs is node-wot's dependency, not ours, so only its shape is built.
    return { unsubscribe, closed: false } as unknown as Subscription;
  }

  async requestThingDescription(uri: string): Promise<Content> {
    const res = await this.exchange(
      { href: uri, contentType: "application/td+json" } as Form,
      "GET",
      undefined,
      {
        Accept: "application/td+json",
      },
    );
    return this.toContent(res, { href: uri, contentType: "application/td+json" } as Form);
  }

  async start(): Promise<void> {}

  async stop(): Promise<void> {
    const all = [...this.observations.values()].flatMap((s) => [...s]);
    this.observations.clear();
    await Promise.all(all.map((o) => this.deregister(o)));
    clearInterval(this.liveness);
    this.liveness = undefined;
    for (const { agent, socket } of this.endpoints.values()) {
      agent.close();
      socket.close();
    }
    this.endpoints.clear();
  }

  /** Bearer schemes carried `in: "query"` (how FlowchainCoapServer advertises admin actions)
   * get the credential's token appended to the URI query. ConsumedThing calls this only once per
   * scheme, with whichever form it used first, so the token is kept whatever that form was and is
   * sent on every later form that names a security scheme. Credentials: `{ token: string }`. */
  setSecurity(metadata: SecurityScheme[], credentials?: unknown): boolean {
    // Servient.retrieveCredentials() hands over a list, getCredentials() a single entry.
    const list = Array.isArray(credentials) ? (credentials as unknown[]) : [credentials];
    const token = list
      .map((c) => (c as { token?: unknown } | undefined)?.token)
      .find((x): x is string => typeof x === "string");
    if (token !== undefined) this.token = token;
    for (const scheme of metadata) {
      const s = scheme as SecurityScheme & { in?: string; name?: string };
      if (s.scheme === "bearer" && s.in === "query" && typeof s.name === "string")
        this.tokenQueryName = s.name;
    }
    return true;
  }

  private agent(family: "udp4" | "udp6"): coap.Agent {
    let endpoint = this.endpoints.get(family);
    if (endpoint === undefined) {
      // The socket is ours, not the agent's (an agent closes its own when idle), so that every
      // datagram can also be seen here: node-coap drops a final non-2.xx notification that has
      // no Observe option (RFC 7641 §4.2) as out of order, and does not surface RSTs to pings.
      const socket = createSocket({ type: family });
      socket.on("message", (msg, from) => this.heard(msg, from.address, from.port));
      socket.on("error", () => {});
      endpoint = { agent: new coap.Agent({ type: family, socket }), socket };
      this.endpoints.set(family, endpoint);
    }
    return endpoint.agent;
  }

  private heard(msg: Buffer, address: string, port: number): void {
    this.lastHeard.set(`${address.replace(/^::ffff:/, "")}|${port}`, Date.now());
    let packet;
    try {
      packet = parse(msg);
    } catch {
      return;
    }
    const cls = packet.code[0];
    if (cls !== "4" && cls !== "5") return;
    for (const set of this.observations.values()) {
      for (const o of set) {
        if (o.token.length > 0 && o.token.equals(packet.token)) {
          o.fail(
            new CoapResponseError(
              packet.code,
              `${packet.code} from ${o.href}: ${packet.payload.toString("utf8") || "observation ended"}`,
            ),
          );
        }
      }
    }
  }

  /** When a server was last heard from; a target named by host name matches any address on its port. */
  private heardFrom(target: Target, now: number): number {
    const exact = this.lastHeard.get(serverKey(target));
    if (exact !== undefined || isIP(target.hostname) !== 0) return exact ?? now;
    let latest: number | undefined;
    for (const [key, at] of this.lastHeard) {
      if (key.endsWith(`|${target.port}`)) latest = Math.max(latest ?? 0, at);
    }
    return latest ?? now;
  }

  /** Pings every server observed; one not heard from for three intervals is taken as gone. */
  private checkLiveness(): void {
    const now = Date.now();
    const targets = new Map<string, ActiveObservation[]>();
    for (const set of this.observations.values()) {
      for (const o of set) {
        const key = serverKey(o.target);
        targets.set(key, [...(targets.get(key) ?? []), o]);
      }
    }
    if (targets.size === 0) {
      clearInterval(this.liveness);
      this.liveness = undefined;
      return;
    }
    for (const list of targets.values()) {
      const silentFor = now - this.heardFrom(list[0]!.target, now);
      if (silentFor > 3 * this.livenessIntervalMs) {
        const err = new UnavailableError(
          "unreachable",
          `${list[0]!.target.hostname} has not answered for ${silentFor} ms`,
        );
        for (const o of list) o.fail(err);
        continue;
      }
      const { hostname, port, family } = list[0]!.target;
      const ping = generate({ code: "0.00", confirmable: true, messageId: randomInt(0, 0x10000) });
      this.endpoints.get(family)?.socket.send(ping, port, hostname);
    }
  }

  private target(href: string, form?: Form): Target {
    const url = new URL(href);
    if (url.protocol !== "coap:") throw new Error(`not a coap URL: ${href}`);
    const hostname = url.hostname.replace(/^\[|\]$/g, "");
    const params = new URLSearchParams(url.search);
    const secured = Array.isArray(form?.security)
      ? form.security.length > 0
      : typeof form?.security === "string";
    if (secured && this.token !== undefined && !params.has(this.tokenQueryName)) {
      params.set(this.tokenQueryName, this.token);
    }
    return {
      hostname,
      port: url.port === "" ? 5683 : Number(url.port),
      // node-coap writes each path segment verbatim into Uri-Path, so undo the URL's escaping.
      pathname: url.pathname
        .split("/")
        .map((s) => decodeURIComponent(s))
        .join("/"),
      query: params.toString(),
      family: isIPv6(hostname) ? "udp6" : "udp4",
    };
  }

  private async exchange(
    form: Form,
    method: "GET" | "PUT" | "POST",
    content?: Content,
    headers: Record<string, string> = {},
  ): Promise<coap.IncomingMessage> {
    const target = this.target(form.href, form);
    const body = content === undefined ? undefined : await content.toBuffer();
    return new Promise((resolve, reject) => {
      const req = this.agent(target.family).request({ ...target, method, confirmable: true, observe: false });
      // The limit is on silence, not on the whole exchange: a Block1 upload of 64 blocks is
      // answered block by block, and each answer shows the server is still there.
      const started = Date.now();
      const timer = setInterval(
        () => {
          if (Date.now() - Math.max(started, this.heardFrom(target, 0)) <= this.timeoutMs) return;
          clearInterval(timer);
          req.sender.reset();
          reject(new UnavailableError("timeout", `no answer from ${form.href} in ${this.timeoutMs} ms`));
        },
        Math.min(1000, this.timeoutMs / 4),
      );
      req.on("response", () => clearInterval(timer));
      req.on("error", () => clearInterval(timer));
      for (const [k, v] of Object.entries(headers)) req.setOption(k, v);
      if (content !== undefined) req.setOption("Content-Format", content.type);
      // node-coap sends a body whole unless told to use Block1 (RFC 7959), and refuses messages
      // over 1280 bytes: larger inputs go in 1 KiB blocks (SZX 6).
      if (body !== undefined && body.length > BLOCK_SIZE) req.setOption("Block1", Buffer.from([MAX_SZX]));
      req.on("response", (res: coap.IncomingMessage) => {
        if (!res.code.startsWith("2.")) {
          reject(
            new CoapResponseError(res.code, `${res.code} from ${form.href}: ${res.payload.toString("utf8")}`),
          );
          return;
        }
        resolve(res);
      });
      req.on("error", reject);
      req.end(body);
    });
  }

  private toContent(res: coap.IncomingMessage, form: Form): Content {
    const cf = res.headers["Content-Format"];
    const type = typeof cf === "string" ? cf : (form.contentType ?? "application/json");
    return new ContentClass(type, Readable.from([res.payload]));
  }

  private async deregister(o: ActiveObservation): Promise<void> {
    if (o.closed) return;
    // Stop delivery first: whatever arrives from now on is dropped, even before the server knows.
    o.closed = true;
    try {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, DEREGISTER_TIMEOUT_MS);
        const req = this.agent(o.target.family).request({
          ...o.target,
          method: "GET",
          observe: 1,
          token: o.token,
          confirmable: true,
        });
        const done = (): void => {
          clearTimeout(timer);
          resolve();
        };
        req.on("response", done);
        req.on("error", done);
        req.end();
      });
    } finally {
      // Forgetting the token makes node-coap's agent answer any later notification with a RST,
      // which also ends the relation if the deregistration was lost.
      o.stream?.close();
    }
  }
}

export class FlowchainCoapClientFactory implements ProtocolClientFactory {
  readonly scheme = "coap";
  private client: FlowchainCoapClient | undefined;

  constructor(private readonly options: FlowchainCoapClientOptions = {}) {}

  /**
   * One client per factory: node-wot 0.9.2 asks for a fresh client on every interaction that
   * names a formIndex and sets credentials only on the first one it caches, so fresh clients
   * would send no credential (and each would hold a UDP socket until shutdown). The credential is
   * then the servient's last one given for a CoAP Thing: one servient, one network's credential.
   */
  getClient(): FlowchainCoapClient {
    this.client ??= new FlowchainCoapClient(this.options);
    return this.client;
  }

  init(): boolean {
    return true;
  }

  destroy(): boolean {
    void this.client?.stop();
    this.client = undefined;
    return true;
  }
}

function serverKey(target: Target): string {
  return `${target.hostname}|${target.port}`;
}
