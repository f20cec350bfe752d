// The observe engine and the datagram screen built alone, with a recording send() instead of a
// socket: what goes on the wire for each relation, and how ACK, RST and ping are consumed.
import test from "ava";
import type { RemoteInfo } from "node:dgram";
import { generate, parse, type ParsedPacket } from "coap-packet";
import { silentLogger } from "../src/log.js";
import { CoapObserveEngine, type ObserveInit } from "../src/wot/coap-observe.js";
import { CoapBlockwise } from "../src/wot/coap-blockwise.js";
import { DatagramScreen } from "../src/wot/coap-datagrams.js";

const client = { address: "192.0.2.7", port: 5683 };
const from = { ...client, family: "IPv4", size: 0 } as RemoteInfo;

function engine(init: Partial<ObserveInit> = {}) {
  const sent: ParsedPacket[] = [];
  const idle: string[] = [];
  const send = (buf: Buffer, port: number, address: string): void => {
    if (port !== client.port || address !== client.address) throw new Error(`sent to ${address}:${port}`);
    sent.push(parse(buf));
  };
  const e = new CoapObserveEngine(
    { send, logger: silentLogger },
    { confirmable: true, ackTimeoutMs: 60_000, maxBacklog: 2, maxObservers: 10, ...init },
  );
  const resource = e.resource("event/block", () => idle.push("event/block"));
  return { e, sent, idle, resource };
}

const observe = (p: ParsedPacket): number => {
  const v = p.options.find((o) => o.name === "Observe")!.value;
  return v.reduce((n, b) => n * 256 + b, 0);
};

test("CON relation: one notification in flight, the next sent on its ACK, sequence numbers rise", (t) => {
  const { e, sent, resource } = engine();
  e.register(resource, { ...client, token: Buffer.from("tk"), confirmable: true });
  e.notify(resource, Buffer.from('{"h":1}'), "application/json");
  e.notify(resource, Buffer.from('{"h":2}'), "application/json");
  t.is(sent.length, 1);
  const first = sent[0]!;
  t.true(first.confirmable);
  t.is(first.code, "2.05");
  t.deepEqual(first.token, Buffer.from("tk"));
  t.deepEqual(first.options.find((o) => o.name === "Content-Format")!.value, Buffer.from([50]));
  t.true(
    e.answer(
      parse(generate({ code: "0.00", ack: true, messageId: first.messageId })),
      client.address,
      client.port,
    ),
  );
  t.is(sent.length, 2);
  t.is(sent[1]!.payload.toString(), '{"h":2}');
  t.true(observe(sent[1]!) > observe(first));
  t.is(e.notificationCount(), 2);
  e.stop();
});

test("a RST ends the relation and tells the resource it is idle; NON relations get NON", (t) => {
  const { e, sent, idle, resource } = engine();
  e.register(resource, { ...client, token: Buffer.from("n"), confirmable: false });
  e.notify(resource, Buffer.from("1"), "application/json");
  t.false(sent[0]!.confirmable);
  t.false(sent[0]!.ack || sent[0]!.reset);
  const rst = parse(generate({ code: "0.00", reset: true, messageId: sent[0]!.messageId }));
  t.false(e.answer(rst, client.address, client.port + 1), "another endpoint's RST is not ours");
  t.true(e.answer(rst, client.address, client.port));
  t.is(e.observerCount(), 0);
  t.deepEqual(idle, ["event/block"]);
  e.stop();
});

test("the observer limit refuses as unavailable (5.03 in the error table)", (t) => {
  const { e, resource } = engine({ maxObservers: 1 });
  e.register(resource, { ...client, token: Buffer.from("a"), confirmable: true });
  // The same endpoint and token replaces its relation rather than adding one.
  e.register(resource, { ...client, token: Buffer.from("a"), confirmable: true });
  const err = t.throws(() => e.register(resource, { ...client, token: Buffer.from("b"), confirmable: true }));
  t.like(err, { name: "UnavailableError", kind: "unavailable" });
  t.is(e.observerCount(), 1);
  e.stop();
});

test("the screen answers a ping with RST, drops malformed datagrams and passes requests on", (t) => {
  const { e } = engine();
  const replies: ParsedPacket[] = [];
  const passed: Buffer[] = [];
  const send = (buf: Buffer): number => replies.push(parse(buf));
  const blocks = new CoapBlockwise(
    { send },
    {
      maxBodyBytes: 4096,
      maxPendingUploadBytes: 8192,
      uploadTimeoutMs: 1000,
      maxKeptAnswerBytes: 8192,
      answerTtlMs: 1000,
    },
  );
  const screen = new DatagramScreen({ engine: e, blocks, send, logger: silentLogger });
  const next = (msg: Buffer) => passed.push(msg);
  screen.screen(generate({ code: "0.00", confirmable: true, messageId: 77 }), from, next);
  t.is(replies.length, 1);
  t.true(replies[0]!.reset);
  t.is(replies[0]!.messageId, 77);
  screen.screen(Buffer.from([0x40, 0x01, 0x00, 0x02, 0xff]), from, next); // marker, no payload
  screen.screen(Buffer.from([0x40, 0x01, 0x00, 0x03, 0xb5, 0x61]), from, next); // truncated Uri-Path
  screen.screen(Buffer.from([0x49, 0x01, 0x00, 0x04, 1, 2, 3, 4, 5, 6, 7, 8, 9]), from, next); // 9-byte token
  t.is(passed.length, 0);
  const get = generate({
    code: "GET",
    confirmable: true,
    messageId: 5,
    options: [{ name: "Uri-Path", value: Buffer.from("t") }],
  });
  screen.screen(get, from, next);
  t.deepEqual(passed, [get]);
  // RFC 7252 §5.4.1: an unrecognized critical option (odd number) is refused with 4.02.
  const critical = generate({
    code: "GET",
    confirmable: true,
    messageId: 6,
    options: [
      { name: "Uri-Path", value: Buffer.from("t") },
      { name: "65001", value: Buffer.from("x") },
    ],
  });
  screen.screen(critical, from, next);
  t.is(passed.length, 1);
  t.is(replies.at(-1)!.code, "4.02");
  t.true(replies.at(-1)!.ack);
  t.is(replies.at(-1)!.messageId, 6);
  e.stop();
});
