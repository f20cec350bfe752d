// The Thing's events over HTTP, served here rather than by node-wot: its long-poll route pipes
// every event into whatever response is open, so two events close together became one undecodable
// body, each poll added a listener to a shared stream (MaxListenersExceededWarning), and events
// between polls were lost. Here one source listener per event fans out to:
// - Server-Sent Events (`Accept: text/event-stream`, the TD's first form, subprotocol "sse"): one
//   stream carries every event in order, each with an id; a client that reconnects with
//   Last-Event-ID gets what it missed from a bounded replay buffer.
// - long-poll (the later form): each GET answers exactly one event, then ends.
import type { EventEmitter } from "node:events";
import type { IncomingMessage, ServerResponse } from "node:http";
import { setCors } from "./http-replies.js";

export interface HttpEventOptions {
  /** Events kept for Last-Event-ID replay, per event. */
  replay?: number;
  /** Bytes a slow SSE client may leave unread before it is cut off (it reconnects and replays). */
  maxBuffered?: number;
  /** Comment lines that keep idle streams open through proxies. */
  heartbeatMs?: number;
}

interface Sent {
  seq: number;
  data: string;
}

interface Topic {
  seq: number;
  recent: Sent[];
  streams: Set<(e: Sent) => void>;
  polls: Set<(e: Sent) => void>;
  onEvent: (data: unknown) => void;
}

export class HttpEventHub {
  private readonly topics = new Map<string, Topic>();
  private readonly open = new Set<ServerResponse>();
  /** Ids name this run, so a Last-Event-ID from before a restart replays nothing wrong. */
  private readonly epoch = Date.now().toString(36);
  private readonly replay: number;
  private readonly maxBuffered: number;
  private readonly heartbeatMs: number;

  constructor(
    private readonly source: EventEmitter,
    names: readonly string[],
    o: HttpEventOptions = {},
  ) {
    this.replay = o.replay ?? 1024;
    this.maxBuffered = o.maxBuffered ?? 8 * 1024 * 1024;
    this.heartbeatMs = o.heartbeatMs ?? 15_000;
    for (const name of names) {
      const topic: Topic = { seq: 0, recent: [], streams: new Set(), polls: new Set(), onEvent: () => {} };
      topic.onEvent = (data) => this.publish(topic, data);
      this.topics.set(name, topic);
      source.on(name, topic.onEvent);
    }
  }

  has(name: string): boolean {
    return this.topics.has(name);
  }

  /** Ends every open stream and poll (a server cannot close while they stay open). */
  stop(): void {
    for (const [name, topic] of this.topics) this.source.off(name, topic.onEvent);
    for (const res of this.open) res.end();
    this.open.clear();
  }

  serve(name: string, req: IncomingMessage, res: ServerResponse): void {
    const topic = this.topics.get(name)!;
    setCors(res);
    if (req.method === "HEAD") {
      // node-wot's long-poll client checks the resource with HEAD before its first poll.
      res.writeHead(202);
      res.end();
      return;
    }
    if (wantsEventStream(req)) this.stream(topic, req, res);
    else this.poll(topic, res);
  }

  private publish(topic: Topic, data: unknown): void {
    const sent = { seq: ++topic.seq, data: JSON.stringify(data ?? null) };
    topic.recent.push(sent);
    if (topic.recent.length > this.replay) topic.recent.shift();
    for (const send of [...topic.streams, ...topic.polls]) send(sent);
  }

  private stream(topic: Topic, req: IncomingMessage, res: ServerResponse): void {
    res.writeHead(200, {
      "Content-Type": "text/event-stream",
      "Cache-Control": "no-cache",
      Connection: "keep-alive",
      "X-Accel-Buffering": "no",
    });
    // The client reports the stream open when the headers arrive.
    res.flushHeaders();
    this.open.add(res);
    const send = (e: Sent) => {
      if (res.writableLength > this.maxBuffered) return void res.destroy();
      res.write(`id: ${this.epoch}.${e.seq}\ndata: ${e.data}\n\n`);
    };
    for (const e of this.missed(topic, req.headers["last-event-id"])) send(e);
    topic.streams.add(send);
    const heartbeat = setInterval(() => res.write(":\n\n"), this.heartbeatMs);
    heartbeat.unref();
    res.on("close", () => {
      clearInterval(heartbeat);
      topic.streams.delete(send);
      this.open.delete(res);
    });
  }

  private poll(topic: Topic, res: ServerResponse): void {
    this.open.add(res);
    const send = (e: Sent) => {
      topic.polls.delete(send);
      this.open.delete(res);
      const body = Buffer.from(e.data);
      res.writeHead(200, { "Content-Type": "application/json", "Content-Length": body.length });
      res.end(body);
    };
    topic.polls.add(send);
    res.on("close", () => {
      topic.polls.delete(send);
      this.open.delete(res);
    });
  }

  private missed(topic: Topic, lastEventId: string | string[] | undefined): Sent[] {
    const m = /^([0-9a-z]+)\.(\d{1,15})$/.exec(String(lastEventId ?? ""));
    if (!m || m[1] !== this.epoch) return [];
    const after = Number(m[2]);
    return topic.recent.filter((e) => e.seq > after);
  }
}

function wantsEventStream(req: IncomingMessage): boolean {
  return /(^|,)\s*text\/event-stream\s*(;|,|$)/i.test(req.headers.accept ?? "");
}
