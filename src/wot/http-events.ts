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
import { sendProblem, setCors } from "./http-replies.js";

export interface HttpEventOptions {
  /** Events kept for Last-Event-ID replay, per event: at most this many... */
  replay?: number;
  /** ...and at most this many bytes of them (a record may be 64 KiB). */
  replayBytes?: number;
  /** Bytes a slow SSE client may leave unread before it is cut off (it reconnects and replays). */
  maxBuffered?: number;
  /** Comment lines that keep idle streams open through proxies. */
  heartbeatMs?: number;
  /** Open streams and polls at most; beyond, 503 with Retry-After (each holds a socket). */
  maxOpen?: number;
  /**
   * Name each SSE event (`event: <name>`), as the WoT Discovery notification API does. Off for the
   * Thing's events: node-wot's SSE client hears only unnamed ("message") events.
   */
  named?: boolean;
}

interface Sent {
  seq: number;
  name: string;
  data: string;
}

interface Topic {
  name: string;
  recent: Sent[];
  recentBytes: number;
  streams: Set<(e: Sent) => void>;
  polls: Set<(e: Sent) => void>;
  onEvent: (data: unknown) => void;
}

export class HttpEventHub {
  private readonly topics = new Map<string, Topic>();
  private readonly open = new Set<ServerResponse>();
  /** Ids name this run, so a Last-Event-ID from before a restart replays nothing wrong. */
  private readonly epoch = Date.now().toString(36);
  /** One sequence for every event, so ids order events across topics on one stream. */
  private seq = 0;
  private readonly replay: number;
  private readonly replayBytes: number;
  private readonly maxBuffered: number;
  private readonly heartbeatMs: number;
  private readonly named: boolean;
  private readonly maxOpen: number;

  constructor(
    private readonly source: EventEmitter,
    names: readonly string[],
    o: HttpEventOptions = {},
  ) {
    this.replay = o.replay ?? 1024;
    this.replayBytes = o.replayBytes ?? 4 * 1024 * 1024;
    this.maxBuffered = o.maxBuffered ?? 8 * 1024 * 1024;
    this.heartbeatMs = o.heartbeatMs ?? 15_000;
    this.named = o.named ?? false;
    this.maxOpen = o.maxOpen ?? 1024;
    for (const name of names) {
      const topic: Topic = {
        name,
        recent: [],
        recentBytes: 0,
        streams: new Set(),
        polls: new Set(),
        onEvent: () => {},
      };
      topic.onEvent = (data) => this.publish(topic, data);
      this.topics.set(name, topic);
      source.on(name, topic.onEvent);
    }
  }

  has(name: string): boolean {
    return this.topics.has(name);
  }

  /** True while any client listens: a source that costs work to watch may rest otherwise. */
  get watched(): boolean {
    return this.open.size > 0;
  }

  /** Ends every open stream and poll (a server cannot close while they stay open). */
  stop(): void {
    for (const [name, topic] of this.topics) this.source.off(name, topic.onEvent);
    for (const res of this.open) res.end();
    this.open.clear();
  }

  /** Serves one event, or (SSE only) several on one stream. */
  serve(names: string | readonly string[], req: IncomingMessage, res: ServerResponse): void {
    const topics = ([] as string[]).concat(names).map((n) => this.topics.get(n)!);
    setCors(res);
    if (req.method === "HEAD") {
      // node-wot's long-poll client checks the resource with HEAD before its first poll.
      res.writeHead(202);
      res.end();
      return;
    }
    if (this.open.size >= this.maxOpen) {
      res.setHeader("Retry-After", "5");
      return sendProblem(res, 503, `${this.maxOpen} event streams are open; try again later`);
    }
    if (wantsEventStream(req)) this.stream(topics, req, res);
    else if (topics.length === 1) this.poll(topics[0]!, res);
    else sendProblem(res, 406, "this stream is served as text/event-stream only");
  }

  private publish(topic: Topic, data: unknown): void {
    const sent = { seq: ++this.seq, name: topic.name, data: JSON.stringify(data ?? null) };
    topic.recent.push(sent);
    topic.recentBytes += sent.data.length;
    while (topic.recent.length > this.replay || topic.recentBytes > this.replayBytes) {
      topic.recentBytes -= topic.recent.shift()!.data.length;
    }
    for (const send of [...topic.streams, ...topic.polls]) send(sent);
  }

  private stream(topics: Topic[], req: IncomingMessage, res: ServerResponse): void {
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
      const event = this.named ? `event: ${e.name}\n` : "";
      res.write(`${event}id: ${this.epoch}.${e.seq}\ndata: ${e.data}\n\n`);
    };
    for (const e of this.missed(topics, req.headers["last-event-id"])) send(e);
    for (const topic of topics) topic.streams.add(send);
    const heartbeat = setInterval(() => res.write(":\n\n"), this.heartbeatMs);
    heartbeat.unref();
    res.on("close", () => {
      clearInterval(heartbeat);
      for (const topic of topics) topic.streams.delete(send);
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

  private missed(topics: Topic[], lastEventId: string | string[] | undefined): Sent[] {
    const m = /^([0-9a-z]+)\.(\d{1,15})$/.exec(String(lastEventId ?? ""));
    if (!m || m[1] !== this.epoch) return [];
    const after = Number(m[2]);
    return topics.flatMap((t) => t.recent.filter((e) => e.seq > after)).sort((a, b) => a.seq - b.seq);
  }
}

function wantsEventStream(req: IncomingMessage): boolean {
  return /(^|,)\s*text\/event-stream\s*(;|,|$)/i.test(req.headers.accept ?? "");
}
