// Shared fixtures for the CoAP tests: a real node-wot Servient exposing a tiny Thing through
// FlowchainCoapServer, a raw UDP CoAP client speaking exact packets, and a libcoap runner.
import { createSocket, type Socket } from "node:dgram";
import { spawn, type ChildProcess } from "node:child_process";
import type { ExecutionContext } from "ava";
import wotCore from "@node-wot/core";
import type { ExposedThing } from "@node-wot/core";
import bindingCoap from "@node-wot/binding-coap";
import { AuthError } from "../src/util/errors.js";
import { FlowchainCoapServer, type FlowchainCoapServerOptions } from "../src/wot/coap-server.js";
import {
  CoapOption,
  CoapType,
  codeNumber,
  decodeMessage,
  encodeMessage,
  readUint,
  uintOption,
  type WireMessage,
  type WireOption,
} from "./helpers/coap-messages.js";

const { Servient } = wotCore;
const { CoapClientFactory } = bindingCoap;

export interface ThingFixture {
  server: FlowchainCoapServer;
  servient: InstanceType<typeof Servient>;
  thing: ExposedThing;
  port: number;
  echoCalls: unknown[];
}

export const ADMIN_TOKEN = "s3cret-admin";

/** A server that only writes an HTTP-looking form on every affordance, exposed before ours, so
 * tests can prune its forms afterwards the way the Thing's owner does and shift our indexes. */
export const formOnlyServer = {
  scheme: "http",
  async expose(thing: { properties: object; actions: object; events: object }): Promise<void> {
    for (const group of [thing.properties, thing.actions, thing.events]) {
      for (const [name, aff] of Object.entries(group) as Array<[string, { forms: object[] }]>) {
        aff.forms.push({ href: `http://example.invalid/${name}`, contentType: "application/json", op: [] });
      }
    }
  },
  async destroy(): Promise<boolean> {
    return true;
  },
  async start(): Promise<void> {},
  async stop(): Promise<void> {},
  getPort(): number {
    return 1;
  },
};

export async function startThing(
  t: ExecutionContext,
  options: Partial<FlowchainCoapServerOptions> = {},
  firstServer?: typeof formOnlyServer,
): Promise<ThingFixture> {
  const server = new FlowchainCoapServer({
    host: "127.0.0.1",
    bindAddress: "127.0.0.1",
    port: 0,
    authorize: (_thing, action, token) => {
      if (action !== "inventory") return undefined;
      if (token === undefined) throw new AuthError("unauthenticated", "inventory needs the admin token");
      if (token !== ADMIN_TOKEN) throw new AuthError("forbidden", "not the admin token");
      return { id: "0123456789abcdef", role: "admin", subject: "admin", issuedAt: 0 };
    },
    ...options,
  });
  const servient = new Servient();
  if (firstServer !== undefined) servient.addServer(firstServer as unknown as FlowchainCoapServer);
  servient.addServer(server);
  const wot = await servient.start();
  t.teardown(() => servient.shutdown());
  const thing = (await wot.produce({
    title: "t",
    securityDefinitions: { nosec_sc: { scheme: "nosec" }, admin_sc: { scheme: "bearer" } },
    security: ["nosec_sc"],
    properties: {
      counter: { type: "integer", observable: true, readOnly: true },
      label: { type: "string" },
    },
    actions: {
      echo: {
        input: { type: "object", properties: { n: { type: "integer" } }, required: ["n"] },
        output: { type: "object" },
      },
      fail: { input: { type: "string" } },
      // Answers {data} of n characters: answers larger than a datagram.
      big: { input: { type: "integer" }, output: { type: "object" } },
      // Affordance-level security naming a bearer scheme marks the action admin-only.
      inventory: { output: { type: "object" }, security: ["admin_sc"] },
    },
    events: { block: { data: { type: "object" } } },
  } as WoT.ExposedThingInit)) as unknown as ExposedThing;
  const fixture: ThingFixture = { server, servient, thing, port: server.getPort(), echoCalls: [] };
  let counter = 0;
  let label = "x";
  thing.setPropertyReadHandler("counter", async () => counter);
  thing.setPropertyReadHandler("label", async () => label);
  thing.setPropertyWriteHandler("label", async (v) => {
    label = (await v.value()) as string;
    counter += 1;
    await thing.emitPropertyChange("counter");
  });
  thing.setActionHandler("echo", async (input) => {
    const value = await input.value();
    fixture.echoCalls.push(value);
    return value;
  });
  thing.setActionHandler("fail", async (input) => {
    const kind = (await input.value()) as string;
    const err = new Error(`failing with ${kind}`);
    err.name = kind;
    throw err;
  });
  thing.setActionHandler("inventory", async () => ({ items: 3 }));
  thing.setActionHandler("big", async (input) => ({ data: "x".repeat((await input.value()) as number) }));
  await thing.expose();
  return fixture;
}

/** Resolves when cond() holds; polls on a short interval because the condition is internal state. */
export async function until(cond: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const start = Date.now();
  while (!cond()) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

export function pathOptions(path: string, query?: string): WireOption[] {
  const opts: WireOption[] = path
    .split("/")
    .filter((s) => s.length > 0)
    .map((s) => ({ number: CoapOption.UriPath, value: Buffer.from(s) }));
  if (query !== undefined) opts.push({ number: CoapOption.UriQuery, value: Buffer.from(query) });
  return opts;
}

/** A CoAP endpoint on a raw UDP socket, so tests control every message (ACK, RST, Observe=1). */
export class RawCoapClient {
  readonly socket: Socket;
  private readonly inbox: WireMessage[] = [];
  private waiters: Array<() => void> = [];
  private mid = 1000;

  private constructor(
    socket: Socket,
    readonly port: number,
  ) {
    this.socket = socket;
    socket.on("message", (buf) => {
      const msg = decodeMessage(buf);
      if (msg === undefined) return;
      this.inbox.push(msg);
      const ws = this.waiters;
      this.waiters = [];
      ws.forEach((w) => w());
    });
  }

  static async open(t: ExecutionContext, serverPort: number): Promise<RawCoapClient> {
    const socket = createSocket("udp4");
    await new Promise<void>((resolve) => socket.bind(0, "127.0.0.1", resolve));
    t.teardown(() => new Promise<void>((resolve) => socket.close(() => resolve())));
    return new RawCoapClient(socket, serverPort);
  }

  nextMid(): number {
    this.mid += 1;
    return this.mid;
  }

  sendRaw(buf: Buffer): void {
    this.socket.send(buf, this.port, "127.0.0.1");
  }

  send(msg: Partial<WireMessage> & { code: number }): WireMessage {
    const full: WireMessage = {
      type: CoapType.CON,
      messageId: this.nextMid(),
      token: Buffer.alloc(0),
      options: [],
      payload: Buffer.alloc(0),
      ...msg,
    };
    this.sendRaw(encodeMessage(full));
    return full;
  }

  /** Next received message matching pred (consumed from the inbox). */
  async receive(pred: (m: WireMessage) => boolean, timeoutMs = 10_000): Promise<WireMessage> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const i = this.inbox.findIndex(pred);
      if (i >= 0) return this.inbox.splice(i, 1)[0]!;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error("no matching CoAP message received");
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** GET a resource larger than one datagram with Block2 (RFC 7959), block by block. */
  async getBlockwise(path: string): Promise<{ first: WireMessage; body: Buffer }> {
    const parts: Buffer[] = [];
    let first: WireMessage | undefined;
    for (let num = 0; ; num++) {
      const options = pathOptions(path);
      options.push({ number: CoapOption.Block2, value: uintOption((num << 4) | 6) });
      const token = Buffer.from([num & 0xff, 0x77]);
      const sent = this.send({ code: codeNumber("0.01"), token, options });
      const res = await this.receive((m) => m.code !== 0 && m.token.equals(sent.token));
      first ??= res;
      parts.push(res.payload);
      const block = res.options.find((o) => o.number === CoapOption.Block2);
      if (block === undefined || (readUint(block.value) & 8) === 0) break;
    }
    return { first: first!, body: Buffer.concat(parts) };
  }

  /** Registers for an event or property with Observe=0 (CON); resolves with the ACK to it, empty
   * when the response is to come separately, piggybacked otherwise. */
  async observe(path: string, token: Buffer): Promise<WireMessage> {
    const options = pathOptions(path);
    options.push({ number: CoapOption.Observe, value: Buffer.alloc(0) });
    const sent = this.send({ code: codeNumber("0.01"), token, options });
    return this.receive((m) => m.type === CoapType.ACK && m.messageId === sent.messageId);
  }

  /** Acknowledges a CON message (a notification or a separate response). */
  ack(msg: WireMessage): void {
    this.send({ type: CoapType.ACK, code: 0, messageId: msg.messageId });
  }

  pendingCount(pred: (m: WireMessage) => boolean): number {
    return this.inbox.filter(pred).length;
  }

  async request(
    method: "GET" | "POST" | "PUT" | "DELETE",
    path: string,
    opts: {
      query?: string;
      payload?: Buffer | string;
      contentFormat?: number;
      observe?: number;
      token?: Buffer;
    } = {},
  ): Promise<WireMessage> {
    const options = pathOptions(path, opts.query);
    if (opts.contentFormat !== undefined) {
      options.push({ number: CoapOption.ContentFormat, value: uintOption(opts.contentFormat) });
    }
    if (opts.observe !== undefined)
      options.push({ number: CoapOption.Observe, value: uintOption(opts.observe) });
    const code = { GET: "0.01", POST: "0.02", PUT: "0.03", DELETE: "0.04" }[method];
    const token = opts.token ?? Buffer.from([this.mid & 0xff, 0x42]);
    const sent = this.send({
      code: codeNumber(code),
      token,
      options,
      payload:
        typeof opts.payload === "string" ? Buffer.from(opts.payload) : (opts.payload ?? Buffer.alloc(0)),
    });
    return this.receive((m) => m.code !== 0 && m.token.equals(sent.token) && m.type !== CoapType.CON);
  }
}

/** libcoap's command-line client; stdout is collected line by line. */
export function runCoapClient(
  t: ExecutionContext,
  args: string[],
): { proc: ChildProcess; lines: string[]; exited: Promise<number | null> } {
  const proc = spawn("/usr/bin/coap-client-notls", args, { stdio: ["ignore", "pipe", "pipe"] });
  const lines: string[] = [];
  let partial = "";
  proc.stdout!.on("data", (chunk: Buffer) => {
    partial += chunk.toString("utf8");
    const parts = partial.split("\n");
    partial = parts.pop() ?? "";
    for (const p of parts) if (p.trim().length > 0) lines.push(p.trim());
  });
  // 'close' rather than 'exit': only 'close' guarantees stdout has been fully read.
  const exited = new Promise<number | null>((resolve) => proc.on("close", (code) => resolve(code)));
  t.teardown(() => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGKILL");
  });
  return { proc, lines, exited };
}

/** A stock node-wot consumer: @node-wot/core with @node-wot/binding-coap and nothing of ours. */
export async function stockConsumer(t: ExecutionContext): Promise<typeof WoT> {
  const servient = new Servient();
  servient.addClientFactory(new CoapClientFactory());
  const wot = await servient.start();
  t.teardown(() => servient.shutdown());
  return wot;
}

/** Subscribes the way a WoT developer does, collecting each event's value or its decoding error.
 * `subscribed` resolves with the first response, which for an event is its first occurrence. */
export function collectEvents(
  consumed: WoT.ConsumedThing,
  name: string,
): { values: unknown[]; failures: string[]; subscribed: Promise<unknown> } {
  const values: unknown[] = [];
  const failures: string[] = [];
  const subscribed = consumed.subscribeEvent(name, (data) => {
    data.value().then(
      (v) => values.push(v),
      (err: Error) => failures.push(err.message),
    );
  });
  return { values, failures, subscribed };
}
