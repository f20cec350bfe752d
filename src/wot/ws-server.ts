// node-wot's WebSocket server subscribes each new socket once per form of the event (HTTP, CoAP and
// WS forms alike), so every event arrives several times; it also advertises property and action
// forms it never serves. This subclass keeps only what works: each event sent once to each socket
// on the event paths, and event forms only.
import type { IncomingMessage } from "node:http";
import type { ExposedThing } from "@node-wot/core";
import bindingWs from "@node-wot/binding-websockets";
import type { WebSocket, WebSocketServer as WsSocketServer } from "ws";

const { WebSocketServer } = bindingWs;

type Listener = Parameters<ExposedThing["handleSubscribeEvent"]>[1];

interface Internals {
  socketServers: Record<string, WsSocketServer>;
  scheme: string;
}

export class FlowchainWebSocketServer extends WebSocketServer {
  /** `host`: the one host the forms advertise (IPv6 in brackets). */
  constructor(
    config: ConstructorParameters<typeof WebSocketServer>[0],
    private readonly host: string,
  ) {
    super(config);
  }

  override async expose(thing: ExposedThing): Promise<void> {
    await super.expose(thing);
    const self = this as unknown as Internals;
    const prefix = `${self.scheme}://`;
    const isOurs = (f: { href: string }) =>
      f.href.startsWith(prefix) && f.href.includes(`:${this.getPort()}/`);
    // The stock server writes one form per interface address of the machine: keep one per event,
    // on the advertised host.
    for (const event of Object.values(thing.events)) {
      const ours = event.forms.filter(isOurs);
      const first = ours[0];
      if (first === undefined) continue;
      first.href = `${prefix}${this.host}:${this.getPort()}${new URL(first.href).pathname}`;
      event.forms = event.forms.filter((f) => !isOurs(f) || f === first) as typeof event.forms;
    }
    for (const a of [...Object.values(thing.properties), ...Object.values(thing.actions)]) {
      // The other servers' forms remain, so the list stays non-empty.
      for (const f of a.forms.filter(isOurs)) {
        // (one per interface address: the path is the same, deleting it twice is harmless)
        // The stock property sockets do nothing useful, and closing one unobserves properties
        // that are not observable (which throws inside a socket event): refuse them instead.
        const path = new URL(f.href).pathname;
        self.socketServers[path]?.close();
        delete self.socketServers[path];
      }
      a.forms = a.forms.filter((f) => !isOurs(f)) as typeof a.forms;
    }
    for (const [name, event] of Object.entries(thing.events)) {
      for (const f of event.forms) {
        // Closing the socket unsubscribes, so the form is truthful about both operations.
        if (isOurs(f)) f.op = ["subscribeevent", "unsubscribeevent"];
      }
      const wsForm = event.forms.find(isOurs);
      if (!wsForm) continue;
      const path = new URL(wsForm.href).pathname;
      const server = self.socketServers[path];
      if (!server) continue;
      server.removeAllListeners("connection");
      // node-wot gives every listener of a form the same Content stream, which only one reader can
      // drain; so one listener per event reads it and fans the text out to all sockets.
      const sockets = new Set<WebSocket>();
      const formIndex = () => event.forms.indexOf(wsForm);
      const listener = async (content: { body: AsyncIterable<Buffer | string> }) => {
        const chunks: Buffer[] = [];
        for await (const c of content.body) chunks.push(Buffer.isBuffer(c) ? c : Buffer.from(c));
        // One text frame per event: the JSON payload, as the stock binding's client expects.
        const text = Buffer.concat(chunks).toString("utf8");
        for (const ws of sockets) if (ws.readyState === ws.OPEN) ws.send(text);
      };
      server.on("connection", (ws: WebSocket, _req: IncomingMessage) => {
        if (sockets.size === 0) {
          thing
            .handleSubscribeEvent(name, listener as unknown as Listener, { formIndex: formIndex() })
            .catch((err: Error) => ws.close(1011, err.message));
        }
        sockets.add(ws);
        ws.on("close", () => {
          sockets.delete(ws);
          if (sockets.size === 0) {
            thing.handleUnsubscribeEvent(name, listener as unknown as Listener, { formIndex: formIndex() });
          }
        });
      });
    }
  }
}
