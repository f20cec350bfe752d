// libcoap's coap-client-notls run with `-v 9`, which prints every datagram it sends and receives
// (`v:1 t:CON c:GET i:0861 {01} [ Uri-Path:x, ... ] :: 'payload'`): the ETSI plugtest verdicts
// are checks on those messages, so the tests read them from libcoap's own trace.
import type { ExecutionContext } from "ava";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runCoapClient } from "../wot-coap-helpers.js";

/** Line-buffered (coreutils' stdbuf): piped, libcoap's stdout is block-buffered, and a message it
 * printed would reach a test waiting for it only when the client exits. */
const LINE_BUFFERED = ["stdbuf", "-oL"];

export interface TracedMessage {
  dir: "sent" | "received";
  type: "CON" | "NON" | "ACK" | "RST";
  /** `GET`, `POST`... for requests, `2.05` for responses, `0.00` for empty messages. */
  code: string;
  mid: number;
  /** Hex, empty for a zero-length token. */
  token: string;
  /** Option name to its values in order, as libcoap prints them (`Content-Format` →
   * `application/json`, `Block2` → `0/M/64`, `Observe` → `3`). */
  options: Map<string, string[]>;
  /** The payload as printed: text unescaped, or `binary data length N`; undefined when none. */
  payload?: string;
}

export interface LibcoapRun {
  /** Every datagram on the wire, in order. */
  messages: TracedMessage[];
  /** What libcoap wrote to `-o`: the whole (reassembled) body of the answer. */
  body: string;
  exitCode: number | null;
}

const PDU = /^v:1 t:(CON|NON|ACK|RST) c:(\S+) i:([0-9a-f]{4}) \{([0-9a-f]*)\} \[(.*?)\](?: :: (.*))?$/;
const IO = / UDP : (sent|received) \d+ bytes/;

/**
 * libcoap prints a request once when the app presents it and once on the wire (after "sent N
 * bytes"), a received message after "received N bytes", and the empty ACKs and RSTs it answers
 * with bare: so a PDU after "PDU presented by app" is skipped, and a bare one was sent.
 */
export function parseTrace(lines: readonly string[]): TracedMessage[] {
  const messages: TracedMessage[] = [];
  let dir: "sent" | "received" | "skip" = "sent";
  for (const line of lines) {
    const io = IO.exec(line);
    if (io !== null) {
      dir = io[1] as "sent" | "received";
      continue;
    }
    if (line.includes("PDU presented by app")) {
      dir = "skip";
      continue;
    }
    const m = PDU.exec(line);
    if (m === null) continue;
    if (dir === "skip") {
      dir = "sent";
      continue;
    }
    const options = new Map<string, string[]>();
    for (const part of m[5]!.split(", ")) {
      const item = part.trim();
      if (item === "") continue;
      const at = item.indexOf(":");
      const [name, value] = at < 0 ? [item, ""] : [item.slice(0, at), item.slice(at + 1)];
      options.set(name, [...(options.get(name) ?? []), value]);
    }
    messages.push({
      dir,
      type: m[1] as TracedMessage["type"],
      code: m[2]!,
      mid: parseInt(m[3]!, 16),
      token: m[4]!,
      options,
      payload: m[6] === undefined ? undefined : unquote(m[6]),
    });
    dir = "sent";
  }
  return messages;
}

function unquote(printed: string): string {
  if (!printed.startsWith("'") || !printed.endsWith("'")) return printed;
  return printed
    .slice(1, -1)
    .replace(/\\x([0-9A-Fa-f]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16)));
}

/** Starts coap-client-notls with `-v 9` and `-o FILE` before `args`; `done` resolves when it exits. */
export interface LibcoapProcess {
  /** The datagrams seen so far. */
  trace(): TracedMessage[];
  /** Ends the run as Ctrl-C does (libcoap then cancels an observation and exits). */
  stop(): void;
  done: Promise<LibcoapRun>;
}

export async function startLibcoap(t: ExecutionContext, args: string[]): Promise<LibcoapProcess> {
  const dir = await mkdtemp(join(tmpdir(), "plugtest-"));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const out = join(dir, "body");
  const run = runCoapClient(t, ["-v", "9", "-o", out, ...args], LINE_BUFFERED);
  const done = run.exited.then(async (exitCode) => ({
    messages: parseTrace(run.lines),
    body: await readFile(out, "utf8").catch(() => ""),
    exitCode,
  }));
  return {
    trace: () => parseTrace(run.lines),
    stop: () => {
      if (run.proc.exitCode === null && run.proc.signalCode === null) run.proc.kill("SIGINT");
    },
    done,
  };
}

export async function libcoap(t: ExecutionContext, args: string[]): Promise<LibcoapRun> {
  return (await startLibcoap(t, args)).done;
}
