// Exposes one FlowchainNodeApi as a W3C WoT Thing over HTTP, CoAP and WebSocket with node-wot, with
// its TD produced from the project's Thing Model and advertised on the node's host only.
import { isIPv6 } from "node:net";
import type { ExposedThing } from "@node-wot/core";
import wotCore from "@node-wot/core";
import bindingHttp from "@node-wot/binding-http";
import type { FlowchainNodeApi } from "../node/api.js";
import { silentLogger, type Logger } from "../log.js";
import { FlowchainCoapServer } from "./coap-server.js";
import { LEDGER_CONTEXT_FILE, LEDGER_CONTEXT_URL } from "../ledger/context.js";
import { CONTEXTS_PATH, createHttpFront, WELL_KNOWN_PATH } from "./http-front.js";
import { DIRECTORY_TD_PATH, directoryTd } from "./http-directory.js";
import { HttpEventHub } from "./http-events.js";
import { DIRECTORY_EVENT_TYPES, DirectoryChanges } from "./directory-changes.js";
import { ExplorerAssets } from "./explorer-assets.js";
import { compileInputValidators } from "./input-validation.js";
import { attachInteractions } from "./interactions.js";
import { authorizeAction, SECURED_ACTIONS, type AccessDeps } from "./access.js";
import { loadThingModel, readProjectFile, tdFromModel } from "./thing-model.js";
import { FlowchainWebSocketServer } from "./ws-server.js";
import { checkServerTls, type ServerTlsFiles } from "./server-tls.js";

const { Servient } = wotCore;
const { HttpServer } = bindingHttp;

export interface ThingServerOptions {
  /** Host advertised in every form and TD URL; also the bind address unless `bind` is set. Default 127.0.0.1. */
  host: string;
  /** Interface to listen on, when it differs from the advertised host (e.g. "0.0.0.0" behind NAT). */
  bind?: string;
  /** 0 picks a free port (likewise coapPort and wsPort). */
  httpPort: number;
  coapPort: number;
  wsPort: number;
  /** HTTPS and WSS instead of HTTP and WS (the CoAP server has no DTLS: it stays plain). */
  tls?: ServerTlsFiles;
  log?: Logger;
}

export interface RunningThing {
  td: Record<string, unknown>;
  /** http(s)://host:port/.well-known/wot */
  tdUrl: string;
  ports: { http: number; coap: number; ws: number };
  stop(): Promise<void>;
}

/** Security definition names in td/flowchain-node.tm.json. */
const CLIENT_SECURITY = "bearer_sc";

export async function startThing(node: FlowchainNodeApi, opts: ThingServerOptions): Promise<RunningThing> {
  const log = (opts.log ?? silentLogger).child({ component: "wot" });
  const host = opts.host || "127.0.0.1";
  const bind = opts.bind ?? host;
  // Forms name only this host. node-wot's own way (Helpers.setStaticAddress) is process-wide, so
  // each server is told the host instead: HTTP through baseUri, CoAP through its option, and the
  // WebSocket server rewrites its forms.
  const urlHost = isIPv6(host) ? `[${host}]` : host;
  const scheme = opts.tls ? "https" : "http";
  if (opts.tls) for (const w of checkServerTls(opts.tls, host).warnings) log.warn(w);
  // node-wot's servers read the PEM files themselves and switch to https/wss when given both.
  const tlsConfig = opts.tls && { serverCert: opts.tls.certFile, serverKey: opts.tls.keyFile };

  const access: AccessDeps = { check: (token) => node.checkCredential(token), nodeId: node.id };
  const init = tdFromModel(loadThingModel(), { nodeId: node.id, networkId: node.networkId });
  const checks = compileInputValidators(init);
  let td: Record<string, unknown> | undefined;
  let dirTd: Record<string, unknown> | undefined;
  let eventPaths = new Map<string, string>();
  const events = new HttpEventHub(node, Object.keys((init.events ?? {}) as object));
  const changes: DirectoryChanges = new DirectoryChanges({
    list: () => node.directory(),
    watched: (): boolean => directoryEvents.watched,
    node,
    log,
  });
  const directoryEvents = new HttpEventHub(changes, DIRECTORY_EVENT_TYPES, { named: true });
  // Open streams and polls end first: the HTTP server cannot close while they stay open.
  const stopFeeds = () => {
    events.stop();
    directoryEvents.stop();
    changes.stop();
  };

  const http = withoutPortEnv(
    () =>
      new HttpServer({
        port: opts.httpPort,
        address: bind,
        ...tlsConfig,
        middleware: createHttpFront({
          td: () => td,
          directoryTd: () => dirTd,
          directory: () => node.directory(),
          contexts: servedContexts(),
          eventPaths: () => eventPaths,
          events,
          directoryEvents,
          directoryListened: () => changes.check(),
          access,
          realm: String(init.id),
          log,
          assets: new ExplorerAssets(),
        }),
      }),
  );
  const coap = new FlowchainCoapServer({
    host,
    port: opts.coapPort,
    bindAddress: bind,
    // Over CoAP a credential travels as ?access_token= (see the TD's coap_bearer_sc).
    authorize: (_thing, action, token) =>
      authorizeAction(access, action, token, "?access_token=<credential>"),
    logger: log,
  });
  const ws = new FlowchainWebSocketServer({ port: opts.wsPort, address: bind, ...tlsConfig }, urlHost);
  const servient = new Servient();
  servient.addServer(http);
  servient.addServer(coap);
  servient.addServer(ws);
  let detach: (() => void) | undefined;
  try {
    const wot = await servient.start();
    // Only now is a port-0 HTTP port known; expose() below builds every HTTP href from baseUri.
    (http as unknown as { baseUri?: string }).baseUri = `${scheme}://${urlHost}:${http.getPort()}`;
    const thing = (await wot.produce(init as WoT.ExposedThingInit)) as unknown as ExposedThing;
    detach = attachInteractions(thing, node, checks, log);
    markAdminActions(thing);
    await thing.expose();
    const ports = { http: http.getPort(), coap: coap.getPort(), ws: ws.getPort() };
    const origin = `${scheme}://${urlHost}:${ports.http}`;
    pruneForms(thing, origin);
    eventPaths = offerServerSentEvents(thing, origin);
    // The directory this node also is (WoT Discovery): its TD is linked from the node's own.
    dirTd = directoryTd(origin, node.id, true);
    thing.links = [
      { href: `${origin}${DIRECTORY_TD_PATH}`, rel: "service-desc", type: "application/td+json" },
    ];
    td = publishTd(thing);
    node.setThingDescription(td);
    const tdUrl = `${origin}${WELL_KNOWN_PATH}`;
    log.info("thing exposed", { id: init.id, tdUrl });
    let stopped = false;
    return {
      td,
      tdUrl,
      ports,
      async stop() {
        if (stopped) return;
        stopped = true;
        detach?.();
        stopFeeds();
        await servient.shutdown();
      },
    };
  } catch (err) {
    detach?.();
    stopFeeds();
    // servient.shutdown() gives up at the first server that never started (e.g. its port was
    // taken), leaving the others listening: stop each one on its own.
    await Promise.allSettled([http, coap, ws].map((s) => s.stop()));
    throw err;
  }
}

/** The JSON-LD contexts the node's documents name, by file name under /contexts/. */
function servedContexts(): Map<string, unknown> {
  const ledger = LEDGER_CONTEXT_URL.slice(CONTEXTS_PATH.length);
  return new Map([[ledger, JSON.parse(readProjectFile(LEDGER_CONTEXT_FILE)) as unknown]]);
}

/**
 * Offers each event over Server-Sent Events first (subprotocol "sse", which node-wot's HTTP client
 * and browsers' EventSource speak): a stock consumer takes the first form, and one stream loses
 * nothing in a burst where long-poll misses what happens between polls. Same href as the long-poll
 * form: the front tells them apart by `Accept: text/event-stream`. Returns event name by path.
 */
function offerServerSentEvents(thing: ExposedThing, origin: string): Map<string, string> {
  const paths = new Map<string, string>();
  for (const [name, event] of Object.entries(thing.events)) {
    const poll = event.forms.find((f) => f.href.startsWith(`${origin}/`));
    if (!poll) continue;
    paths.set(new URL(poll.href).pathname, name);
    const sse = { ...poll, subprotocol: "sse", op: ["subscribeevent", "unsubscribeevent"] };
    event.forms = [sse, ...event.forms] as typeof event.forms;
  }
  return paths;
}

/**
 * node-wot's HttpServer lets WOT_PORT or PORT override its configured port, and the CLI uses PORT
 * for the peer port: hide both while it is constructed so --http-port is what gets used.
 */
function withoutPortEnv<T>(make: () => T): T {
  const saved = { WOT_PORT: process.env.WOT_PORT, PORT: process.env.PORT };
  delete process.env.WOT_PORT;
  delete process.env.PORT;
  try {
    return make();
  } finally {
    for (const [k, v] of Object.entries(saved)) if (v !== undefined) process.env[k] = v;
  }
}

/**
 * node-wot hands each server a template cloned from the Thing's forms just before exposing; a
 * placeholder form naming the bearer scheme tells the CoAP server which actions need the token.
 * Servient.expose() clears these placeholders before any server adds real forms.
 */
function markAdminActions(thing: ExposedThing): void {
  for (const name of SECURED_ACTIONS) {
    const action = thing.actions[name];
    if (action) action.forms = [{ href: "", security: [CLIENT_SECURITY] }] as typeof action.forms;
  }
}

/**
 * The TD every binding serves says the Thing's HTTP forms take the bearer credential: Thing-level,
 * because node-wot 0.9.2's consumer hands form-level schemes the wrong credential shape (an array:
 * "No Bearer credentials for Thing") and sets a client's scheme once, at its first request. The
 * ExposedThing itself stays nosec: node-wot's HttpServer would otherwise check every request
 * against its own store and refuse ours; the front and the CoAP routes check instead (access.ts),
 * and only the actions that need a credential.
 */
function publishTd(thing: ExposedThing): Record<string, unknown> {
  const td = thing.getThingDescription() as unknown as Record<string, unknown>;
  td.security = [CLIENT_SECURITY];
  const own = thing as unknown as { getThingDescription(): unknown };
  own.getThingDescription = () => structuredClone(td);
  return td;
}

/**
 * Makes the TD say only what is true: HTTP forms under the slug path only (node-wot also adds a
 * duplicate set under the encoded id), JSON forms only, and admin actions offered only where a
 * form names a bearer scheme that its server checks (HTTP: our front; CoAP: its authorize hook).
 */
function pruneForms(thing: ExposedThing, origin: string): void {
  const httpBase = `${origin}/`;
  const idPath = `${httpBase}${encodeURIComponent(thing.id ?? "")}/`;
  // Action handlers parse JSON only (and check it against the TD), so only JSON forms are offered.
  const keep = (f: { href: string; contentType?: string }) =>
    !f.href.startsWith(idPath) && (f.contentType ?? "application/json") === "application/json";
  thing.forms = thing.forms?.filter(keep);
  for (const a of [
    ...Object.values(thing.properties),
    ...Object.values(thing.actions),
    ...Object.values(thing.events),
  ]) {
    a.forms = a.forms.filter(keep) as typeof a.forms;
  }
  // Secured actions keep the forms whose server checks credentials: HTTP (the front) and CoAP
  // (its forms name coap_bearer_sc); node-wot's WebSocket forms would run them unchecked.
  for (const name of SECURED_ACTIONS) {
    const action = thing.actions[name];
    if (!action) continue;
    action.forms = action.forms.filter(
      (f) => f.href.startsWith(httpBase) || f.security !== undefined,
    ) as typeof action.forms;
  }
}
