// Request routing: maps a CoAP request's path and method onto the exposed Thing's interactions
// (/<thing> is its TD, /<thing>/{properties,actions,events}/<name> its affordances), and starts or
// ends observations through the observe engine.
import { Readable } from "node:stream";
import type * as coap from "coap";
import wotCore from "@node-wot/core";
import type { Logger } from "../log.js";
import { formIndex, type ThingEntry } from "./coap-forms.js";
import type { CoapInputCheck } from "./coap-input.js";
import { isDirectory, linkFormat, WELL_KNOWN_CORE, WELL_KNOWN_WOT } from "./coap-link-format.js";
import type { CoapObserveEngine, Endpoint } from "./coap-observe.js";
import type { ObserveHubs } from "./coap-observe-hubs.js";
import {
  acknowledgeOnly,
  CoapReplyError,
  reply,
  replyFailure,
  replyObserve,
  type CoapExchange,
  type CoapResponse,
} from "./coap-replies.js";
import type { CoapBlockwise } from "./coap-blockwise.js";
import type { Credential } from "../node/credentials.js";
import { requestContext } from "./request-context.js";

const { Content: ContentClass } = wotCore;

/**
 * Decides whether `token` may invoke an action: the credential it proved (undefined for an open
 * action), or throws an AuthError (4.01 / 4.03 through the status table).
 */
export type Authorize = (
  thingName: string,
  actionName: string,
  token: string | undefined,
) => Credential | undefined;

export interface CoapRoutesComponents {
  /** The exposed Things by path; owned by the server, read here. */
  things: ReadonlyMap<string, ThingEntry>;
  engine: CoapObserveEngine;
  hubs: ObserveHubs;
  input: CoapInputCheck;
  blocks: CoapBlockwise;
  /** Decides every action; without it, actions whose forms name a bearer scheme are refused. */
  authorize?: Authorize;
  logger: Logger;
}

export interface CoapRoutesInit {
  /** URI query parameter that carries the bearer token. */
  tokenQueryName: string;
}

type CoapRequest = coap.IncomingMessage;

export class CoapRoutes {
  private readonly c: CoapRoutesComponents;
  private readonly tokenQueryName: string;

  constructor(components: CoapRoutesComponents, init: CoapRoutesInit) {
    this.c = components;
    this.tokenQueryName = init.tokenQueryName;
  }

  /** node-coap's request handler; every failure becomes a reply, never an exception. */
  handle(req: CoapRequest, res: CoapResponse): void {
    // node-coap emits 'error' on a response whose packet cannot be generated or whose CON
    // retransmission timed out; an unhandled 'error' event would crash the process.
    res.on("error", (err: Error) => this.c.logger.debug("coap response error", { err: err.message }));
    const ex: CoapExchange = { req, res, blocks: this.c.blocks };
    this.route(ex).catch((err: unknown) => replyFailure(ex, err, req.url, this.c.logger));
  }

  private async route(ex: CoapExchange): Promise<void> {
    const { req } = ex;
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
    if (segments.length === 2 && segments.every((s, i) => s === WELL_KNOWN_CORE[i])) {
      if (method !== "GET") throw new CoapReplyError("4.05", "only GET is allowed on /.well-known/core");
      const links = linkFormat(this.c.things.values(), url.searchParams);
      reply(ex, "2.05", Buffer.from(links), "application/link-format");
      return;
    }
    if (segments.length === 2 && segments.every((s, i) => s === WELL_KNOWN_WOT[i])) {
      // W3C WoT Discovery §6.1: the Well-Known URI serves the Thing's own TD (the node's, not
      // a directory's, when both are exposed).
      if (method !== "GET") throw new CoapReplyError("4.05", "only GET is allowed on /.well-known/wot");
      const all = [...this.c.things.values()];
      const entry = all.find((e) => !isDirectory(e)) ?? all[0];
      if (entry === undefined) throw new CoapReplyError("4.04", "no Thing is exposed");
      return this.serveTd(entry, ex);
    }
    const entry = segments.length > 0 ? this.c.things.get(segments[0]!) : undefined;
    if (entry === undefined) throw new CoapReplyError("4.04", `no resource at ${url.pathname}`);
    if (segments.length === 1) {
      if (method !== "GET") throw new CoapReplyError("4.05", "only GET is allowed on a Thing Description");
      return this.serveTd(entry, ex);
    }
    if (segments.length !== 3) throw new CoapReplyError("4.04", `no resource at ${url.pathname}`);
    const [, dir, name] = segments as [string, string, string];
    switch (dir) {
      case "properties":
        return this.handleProperty(entry, name, ex);
      case "actions":
        return this.handleAction(entry, name, url, ex);
      case "events":
        return this.handleEvent(entry, name, ex);
      default:
        throw new CoapReplyError("4.04", `no resource at ${url.pathname}`);
    }
  }

  private serveTd(entry: ThingEntry, ex: CoapExchange): void {
    const { req } = ex;
    const accept = req.headers.Accept;
    let mediaType = "application/td+json";
    if (accept === "application/json" || accept === 50) mediaType = "application/json";
    else if (accept !== undefined && accept !== "application/td+json" && accept !== 432) {
      throw new CoapReplyError(
        "4.06",
        "the TD is available as application/td+json (432) or application/json (50)",
      );
    }
    reply(ex, "2.05", Buffer.from(JSON.stringify(entry.thing.getThingDescription())), mediaType);
  }

  private async handleProperty(entry: ThingEntry, name: string, ex: CoapExchange) {
    const { req, res } = ex;
    const property = entry.thing.properties[name];
    if (property === undefined) throw new CoapReplyError("4.04", `no property ${name}`);
    const index = formIndex(entry, "property", name);
    if (req.method === "GET") {
      if (property.writeOnly === true) throw new CoapReplyError("4.05", `property ${name} is write-only`);
      const observe = req.headers.Observe;
      const from = endpointOf(req);
      if (observe === 1) this.deregister(entry, "property", name, from);
      const content = await entry.thing.handleReadProperty(name, { formIndex: index });
      const payload = await content.toBuffer();
      if (observe === 0 && property.observable === true) {
        this.c.engine.register(await this.c.hubs.resourceFor(entry, "property", name), from);
        replyObserve(res as coap.ObserveWriteStream, payload, content.type);
        return;
      }
      reply(ex, "2.05", payload, content.type);
      return;
    }
    if (req.method === "PUT") {
      if (property.readOnly === true) throw new CoapReplyError("4.05", `property ${name} is read-only`);
      const { mediaType } = this.c.input.decode(req, property as WoT.DataSchema, `property ${name}`, true);
      const content = new ContentClass(mediaType, Readable.from([req.payload]));
      await entry.thing.handleWriteProperty(name, content, { formIndex: index });
      reply(ex, "2.04");
      return;
    }
    throw new CoapReplyError("4.05", `use GET or PUT on property ${name}`);
  }

  private async handleAction(entry: ThingEntry, name: string, url: URL, ex: CoapExchange) {
    const { req } = ex;
    const action = entry.thing.actions[name];
    if (action === undefined) throw new CoapReplyError("4.04", `no action ${name}`);
    if (req.method !== "POST") throw new CoapReplyError("4.05", `use POST to invoke action ${name}`);
    const token = url.searchParams.get(this.tokenQueryName) ?? undefined;
    let credential: Credential | undefined;
    if (this.c.authorize !== undefined) credential = this.c.authorize(entry.thing.title, name, token);
    else if (entry.adminActions.has(name)) {
      throw new CoapReplyError("4.01", `action ${name} needs a credential in ?${this.tokenQueryName}=`);
    }
    const schema = action.input as WoT.DataSchema | undefined;
    const { mediaType } = this.c.input.decode(req, schema, `action ${name}`, false);
    // The handler learns who asked (a device's source scope, the endpoint a grant names).
    const output = await requestContext.run({ ...(credential ? { credential } : {}) }, () =>
      entry.thing.handleInvokeAction(name, new ContentClass(mediaType, Readable.from([req.payload])), {
        formIndex: formIndex(entry, "action", name),
      }),
    );
    if (output === undefined || output === null) {
      reply(ex, "2.04");
      return;
    }
    reply(ex, "2.05", await output.toBuffer(), output.type);
  }

  private async handleEvent(entry: ThingEntry, name: string, ex: CoapExchange) {
    const { req, res } = ex;
    if (entry.thing.events[name] === undefined) throw new CoapReplyError("4.04", `no event ${name}`);
    if (req.method !== "GET")
      throw new CoapReplyError("4.05", `use GET with Observe to subscribe to event ${name}`);
    const observe = req.headers.Observe;
    const from = endpointOf(req);
    if (observe === 0) {
      this.c.engine.register(await this.c.hubs.resourceFor(entry, "event", name), from);
      // An event has no current state to answer with, and a 2.05 without one is taken for an
      // event by clients that decode every response of an observation (node-wot's binding-coap
      // then fails on the empty value). So the registration is only acknowledged, and the first
      // event is the (separate, RFC 7252 §5.2.2) response that starts the observation.
      acknowledgeOnly(res as coap.ObserveWriteStream);
      return;
    }
    if (observe === 1) {
      this.deregister(entry, "event", name, from);
      reply(ex, "2.05");
      return;
    }
    throw new CoapReplyError("4.00", `event ${name} is observed: send GET with Observe 0`);
  }

  private deregister(entry: ThingEntry, kind: "property" | "event", name: string, from: Endpoint): void {
    const resource = this.c.hubs.existing(entry, kind, name);
    if (resource !== undefined) this.c.engine.deregister(resource, from);
  }
}

function endpointOf(req: CoapRequest): Endpoint {
  return {
    address: req.rsinfo.address,
    port: req.rsinfo.port,
    token: req._packet.token ?? Buffer.alloc(0),
    confirmable: req._packet.confirmable === true,
  };
}
