// The ETSI CoAP plugtest test descriptions (CoAP#4: TD_COAP_CORE, _BLOCK, _OBS, _LINK; the
// public YAML of github.com/cabo/td-coap4, as the F-Interop ttproto checks them) that apply to a
// Flowchain node, driven by libcoap's coap-client-notls against one real node process. Each
// test asserts its description's checks on the datagrams libcoap prints with `-v 9`. The
// plugtest's /test, /separate, /large, /obs are the node's resources: a property (GET),
// the read-only `query` action (POST), the TD (large), `chain` (observable; it changes with each
// block) and the `transaction` event (answered separately: an event has no current value).
// Records are written through the peer protocol, so nothing here depends on the WoT put's
// credential.
//
// Apply: CORE_01, 04, 05, 08, 09, 10, 11, 12, 13, 14, 15, 17, 20, 31; BLOCK_01, 02, 05, 06;
// OBS_01, 02, 09, 10, 12, 13; LINK_01, 02, 03, 05, 06, 07, 08.
// Apply with a refusal: CORE_02/06 (DELETE) and CORE_03/07 (PUT): a node has no deletable or
// writable resource, so the check is RFC 7252's 4.05 with the problem details every error carries.
// Adapted: BLOCK_04 posts to an action, which creates nothing: 2.04 and no Location-Path
// (not 2.01); CORE_04/08 likewise; CORE_09/11/17 use the event registration, the node's only
// separate response. CORE_12, OBS_10 and OBS_12 need what libcoap 4.3's client cannot send (a
// zero-length token; a second request or a cancellation from the same endpoint that it waits
// an answer for), so they use a raw UDP client.
// Do not apply: CORE_16, OBS_11 (a lossy gateway between the two); CORE_18, 19, BLOCK_03, 23
// (creating resources, Location-Path/-Query, If-None-Match); CORE_21, 22 (ETag and If-Match:
// no resource has an ETag outside Block2 transfers); CORE_24-29 (proxies); OBS_04 (a server
// reboot; the final 5.03 is tested in wot-coap-observe); OBS_05, 06 (the server's retransmissions
// to a switched-off client and RST after a client reboot, in wot-coap-observe with a raw client);
// OBS_07, 08, 14 (resources are never deleted, change Content-Format or change size around a
// block); LINK_04 (no link has several rt values), LINK_09 (the TD is not a link-format list).
import test, { type ExecutionContext } from "ava";
import { Cluster, type NodeProc } from "./helpers/cluster.js";
import { eventually } from "./helpers/eventually.js";
import { libcoap, startLibcoap, type LibcoapRun, type TracedMessage } from "./helpers/libcoap-trace.js";
import { CoapOption, CoapType, codeString, readUint } from "./helpers/coap-messages.js";
import { RawCoapClient } from "./wot-coap-helpers.js";
import type { PeerNetwork } from "../src/net/index.js";

const cluster = new Cluster();
let node: NodeProc;
let peer: PeerNetwork;
let port: number;
let thing: string;
let puts = 0;

test.before(async () => {
  node = await cluster.start();
  peer = await cluster.client(await cluster.token(node));
  port = Number(new URL(node.coap!).port);
  // The Thing's path, from the CoAP form of a property in its TD.
  const td = (await (await fetch(node.td!)).json()) as { properties: { id: { forms: { href: string }[] } } };
  const href = td.properties.id.forms.map((f) => f.href).find((h) => h.startsWith("coap:"))!;
  thing = decodeURIComponent(new URL(href).pathname.split("/")[1]!);
});

test.after.always(() => cluster.stop());

const uri = (path: string): string => `coap://127.0.0.1:${port}${path}`;
const res = (name: string): string => uri(`/${thing}/${name}`);

/** A record written through the peer protocol: a `transaction` event now, a block (and a `chain`
 * notification) within the block interval. */
async function put(source = "plugtest", pad = ""): Promise<void> {
  await peer.call({ addr: node.peer, id: node.id }, "node.put", { value: { n: ++puts, pad }, source });
}

async function libcoapOk(t: ExecutionContext, args: string[]): Promise<LibcoapRun> {
  const run = await libcoap(t, args);
  t.is(run.exitCode, 0, `coap-client-notls ${args.join(" ")}`);
  return run;
}

const sent = (run: { messages: TracedMessage[] } | TracedMessage[]) =>
  (Array.isArray(run) ? run : run.messages).filter((m) => m.dir === "sent");
const received = (run: { messages: TracedMessage[] } | TracedMessage[]) =>
  (Array.isArray(run) ? run : run.messages).filter((m) => m.dir === "received");
const opt = (m: TracedMessage, name: string): string | undefined => m.options.get(name)?.[0];

/** The response to a request, after it: piggybacked on its ACK, or (a slow answer, after an
 * empty ACK) a separate message with its token. */
function answerTo(run: LibcoapRun, req: TracedMessage): TracedMessage {
  return run.messages
    .slice(run.messages.indexOf(req) + 1)
    .find(
      (m) =>
        m.dir === "received" &&
        m.code !== "0.00" &&
        (m.type === "ACK" ? m.mid === req.mid : m.token === req.token),
    )!;
}

/** The first request and the response to it (same token, not an empty message). */
function exchange(run: LibcoapRun): [TracedMessage, TracedMessage] {
  const req = sent(run).find((m) => m.code !== "0.00")!;
  const answer = received(run).find((m) => m.token === req.token && m.code !== "0.00")!;
  return [req, answer];
}

interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
}
const problem = (m: TracedMessage): Problem => JSON.parse(m.payload!) as Problem;

/** Block2/Block1 as libcoap prints them: `NUM/M/SIZE` (`_` for no more). */
function block(value: string | undefined): { num: number; more: boolean; size: number } {
  const [num, m, size] = value!.split("/");
  return { num: Number(num), more: m === "M", size: Number(size) };
}
const payloadLength = (m: TracedMessage): number => {
  const binary = /^binary data length (\d+)$/.exec(m.payload ?? "");
  return binary !== null ? Number(binary[1]) : Buffer.byteLength(m.payload ?? "");
};

// ---- TD_COAP_CORE ----------------------------------------------------------------------------

test("TD_COAP_CORE_01 GET (CON): piggybacked 2.05 with the request's MID and token, Content-Format, payload", async (t) => {
  const run = await libcoapOk(t, ["-B", "10", res("properties/id")]);
  const [req, answer] = exchange(run);
  t.like(req, { type: "CON", code: "GET" });
  t.like(answer, { type: "ACK", code: "2.05", mid: req.mid, token: req.token });
  t.is(opt(answer, "Content-Format"), "application/json");
  t.is(JSON.parse(run.body), node.id);
});

for (const [id, method, nonConfirmable] of [
  ["TD_COAP_CORE_02", "delete", false],
  ["TD_COAP_CORE_03", "put", false],
  ["TD_COAP_CORE_06", "delete", true],
  ["TD_COAP_CORE_07", "put", true],
] as const) {
  test(`${id} ${method.toUpperCase()} (${nonConfirmable ? "NON" : "CON"}) of a read-only property: 4.05 with problem details`, async (t) => {
    const args = ["-m", method, "-B", "10"];
    if (method === "put") args.push("-t", "50", "-e", '"x"');
    if (nonConfirmable) args.push("-N");
    const run = await libcoap(t, [...args, res("properties/id")]);
    const [req, answer] = exchange(run);
    t.is(req.type, nonConfirmable ? "NON" : "CON");
    t.like(answer, { type: nonConfirmable ? "NON" : "ACK", code: "4.05", token: req.token });
    if (!nonConfirmable) t.is(answer.mid, req.mid);
    t.is(opt(answer, "Content-Format"), "application/json");
    t.like(problem(answer), { type: "about:blank", title: "Method Not Allowed", status: 405 });
  });
}

const QUERY = JSON.stringify({ from: 0, to: 1 });

test("TD_COAP_CORE_04 POST (CON) to the read-only query action: piggybacked 2.04 with its result", async (t) => {
  const run = await libcoapOk(t, ["-m", "post", "-t", "50", "-e", QUERY, "-B", "10", res("actions/query")]);
  const [req, answer] = exchange(run);
  t.like(req, { type: "CON", code: "POST" });
  t.is(opt(req, "Content-Format"), "application/json");
  t.like(answer, { type: "ACK", code: "2.04", mid: req.mid, token: req.token });
  t.is(opt(answer, "Content-Format"), "application/json");
  t.like(JSON.parse(run.body), { records: [], complete: true });
});

test("TD_COAP_CORE_05 GET (NON): a NON 2.05 with the request's token and a Content-Format", async (t) => {
  const run = await libcoapOk(t, ["-N", "-B", "10", res("properties/stats")]);
  const [req, answer] = exchange(run);
  t.like(req, { type: "NON", code: "GET" });
  t.like(answer, { type: "NON", code: "2.05", token: req.token });
  t.is(opt(answer, "Content-Format"), "application/json");
  t.is(typeof (JSON.parse(run.body) as { records: number }).records, "number");
});

test("TD_COAP_CORE_08 POST (NON) to the query action: a NON 2.04 with the request's token", async (t) => {
  const run = await libcoapOk(t, [
    "-N",
    "-m",
    "post",
    "-t",
    "50",
    "-e",
    QUERY,
    "-B",
    "10",
    res("actions/query"),
  ]);
  const [req, answer] = exchange(run);
  t.like(req, { type: "NON", code: "POST" });
  t.like(answer, { type: "NON", code: "2.04", token: req.token });
  t.is(opt(answer, "Content-Format"), "application/json");
});

/**
 * Registers with libcoap for the `transaction` event (its answer is separate: an empty ACK now,
 * the first event as the response) and puts records until that response has come.
 */
async function separateResponse(t: ExecutionContext, extra: string[]) {
  const proc = await startLibcoap(t, [...extra, "-s", "60", "-B", "60", res("events/transaction")]);
  const first = await eventually(async () => {
    const response = received(proc.trace()).find((m) => m.code === "2.05");
    if (response === undefined && sent(proc.trace()).length > 0) await put();
    return response;
  }, "the separate response (the first transaction event)");
  // libcoap acknowledges a CON response before printing anything else.
  if (first.type === "CON") {
    await eventually(
      async () => sent(proc.trace()).some((m) => m.type === "ACK" && m.mid === first.mid),
      "libcoap's ACK",
    );
  }
  proc.stop();
  const run = await proc.done;
  const req = sent(run).find((m) => m.code === "GET")!;
  return { run, req, response: received(run).find((m) => m.code === "2.05")! };
}

for (const [id, token] of [
  ["TD_COAP_CORE_09", undefined],
  ["TD_COAP_CORE_11", "plugtest"],
] as const) {
  test.serial(
    `${id} GET (CON${token ? ", 8-byte token" : ""}) answered separately: empty ACK, then a CON 2.05 the client acknowledges`,
    async (t) => {
      const { run, req, response } = await separateResponse(t, token ? ["-T", token] : []);
      t.is(req.type, "CON");
      if (token !== undefined) t.is(req.token.length, 2 * token.length);
      const ack = received(run).find((m) => m.mid === req.mid)!;
      t.like(ack, { type: "ACK", code: "0.00", token: "", payload: undefined });
      t.like(response, { type: "CON", code: "2.05", token: req.token });
      t.not(response.mid, req.mid);
      t.is(opt(response, "Content-Format"), "application/json");
      t.true(payloadLength(response) > 0);
      t.like(JSON.parse(response.payload!), { source: "plugtest" });
      t.like(
        sent(run).find((m) => m.mid === response.mid),
        { type: "ACK", code: "0.00" },
      );
    },
  );
}

test("TD_COAP_CORE_10 GET (CON) with an 8-byte token: the response carries it", async (t) => {
  const run = await libcoapOk(t, ["-T", "plugtest", "-B", "10", res("properties/id")]);
  const [req, answer] = exchange(run);
  // libcoap counts tokens up from the one given: "plugtest" goes out as "plugtesu".
  t.is(req.token.length, 16);
  t.like(answer, { type: "ACK", code: "2.05", mid: req.mid, token: req.token });
  t.is(opt(answer, "Content-Format"), "application/json");
});

test("TD_COAP_CORE_12 GET (CON) with a zero-length token (raw client: libcoap always sends one)", async (t) => {
  const raw = await RawCoapClient.open(t, port);
  const answer = await raw.request("GET", `/${thing}/properties/id`, { token: Buffer.alloc(0) });
  t.is(answer.type, CoapType.ACK);
  t.is(codeString(answer.code), "2.05");
  t.is(answer.token.length, 0);
  t.is(readUint(answer.options.find((o) => o.number === CoapOption.ContentFormat)!.value), 50);
  t.is(JSON.parse(answer.payload.toString()), node.id);
});

test("TD_COAP_CORE_13 GET (CON) with several Uri-Path options", async (t) => {
  const run = await libcoapOk(t, ["-B", "10", res("properties/chain")]);
  const [req, answer] = exchange(run);
  t.deepEqual(req.options.get("Uri-Path"), [thing, "properties", "chain"]);
  t.like(answer, { type: "ACK", code: "2.05", mid: req.mid, token: req.token });
  t.is(opt(answer, "Content-Format"), "application/json");
  t.is(typeof (JSON.parse(run.body) as { height: number }).height, "number");
});

test("TD_COAP_CORE_14 GET (CON) with several Uri-Query options: each filter of /.well-known/core applies", async (t) => {
  const both = await libcoapOk(t, ["-B", "10", uri("/.well-known/core?rt=wot.thing&ct=432")]);
  const [req, answer] = exchange(both);
  t.deepEqual(req.options.get("Uri-Query"), ["rt=wot.thing", "ct=432"]);
  t.like(answer, { type: "ACK", code: "2.05", mid: req.mid, token: req.token });
  t.is(opt(answer, "Content-Format"), "application/link-format");
  t.regex(both.body, new RegExp(`^</${thing}>;rt="wot.thing"`));
  const second = await libcoapOk(t, ["-B", "10", uri("/.well-known/core?rt=wot.thing&ct=50")]);
  t.like(exchange(second)[1], { code: "2.05", payload: undefined });
});

test("TD_COAP_CORE_15 GET (CON) in a lossy context: the request's first transmission is lost, its retransmission answered", async (t) => {
  // libcoap's -l 1 drops the first datagram it sends (it still prints it).
  const run = await libcoapOk(t, ["-l", "1", "-B", "20", res("properties/id")]);
  const requests = sent(run).filter((m) => m.code === "GET");
  t.is(requests.length, 2);
  t.is(requests[1]!.mid, requests[0]!.mid);
  const answers = received(run).filter((m) => m.mid === requests[0]!.mid);
  t.is(answers.length, 1);
  t.like(answers[0], { type: "ACK", code: "2.05", token: requests[0]!.token });
  t.is(JSON.parse(run.body), node.id);
});

test.serial("TD_COAP_CORE_17 GET (NON) answered separately: no ACK, then a NON 2.05", async (t) => {
  const { run, req, response } = await separateResponse(t, ["-N"]);
  t.is(req.type, "NON");
  t.false(received(run).some((m) => m.type === "ACK"));
  t.like(response, { type: "NON", code: "2.05", token: req.token });
  t.is(opt(response, "Content-Format"), "application/json");
  t.true(payloadLength(response) > 0);
});

test("TD_COAP_CORE_20 GET (CON) with Accept: the format asked for, or 4.06 for one the resource has not", async (t) => {
  const json = await libcoapOk(t, ["-A", "50", "-B", "10", res("properties/id")]);
  const [req, answer] = exchange(json);
  t.is(opt(req, "Accept"), "application/json");
  t.like(answer, { type: "ACK", code: "2.05", mid: req.mid, token: req.token });
  t.is(opt(answer, "Content-Format"), "application/json");
  const text = await libcoap(t, ["-A", "0", "-B", "10", res("properties/id")]);
  const [, refused] = exchange(text);
  t.is(refused.code, "4.06");
  t.like(problem(refused), { title: "Not Acceptable", status: 406 });
  t.regex(problem(refused).detail, /application\/json \(50\)/);
});

test("TD_COAP_CORE_31 CoAP ping: a CON empty message gets a RST with its MID", async (t) => {
  // libcoap pings (-K) only while a session is idle: an observation of a quiet resource.
  const proc = await startLibcoap(t, ["-K", "1", "-s", "60", "-B", "60", res("properties/peers")]);
  const pong = await eventually(
    async () => received(proc.trace()).find((m) => m.type === "RST"),
    "the RST answering a ping",
  );
  proc.stop();
  const run = await proc.done;
  const ping = sent(run).find((m) => m.mid === pong.mid)!;
  t.like(ping, { type: "CON", code: "0.00", token: "", payload: undefined });
  t.like(pong, { type: "RST", code: "0.00", token: "", payload: undefined });
});

// ---- TD_COAP_BLOCK ---------------------------------------------------------------------------

/** Checks a Block2 transfer: NUM 0, 1, 2... of one SZX, M on all but the last, full blocks. */
function checkBlock2(
  t: ExecutionContext,
  answers: TracedMessage[],
  size: number,
  code: string,
  total: number,
) {
  t.true(answers.length > 1);
  answers.forEach((m, i) => {
    const b = block(opt(m, "Block2"));
    const last = i === answers.length - 1;
    t.is(m.code, code);
    t.deepEqual(b, { num: i, more: !last, size }, `block ${i}`);
    if (!last) t.is(payloadLength(m), size, `block ${i}`);
    else t.true(payloadLength(m) > 0 && payloadLength(m) <= size);
    t.truthy(opt(m, "Content-Format"), `block ${i}`);
  });
  t.is(answers.length, Math.ceil(total / size));
}

test("TD_COAP_BLOCK_01 GET of the TD in 64-byte blocks asked for from the start (early negotiation)", async (t) => {
  const run = await libcoapOk(t, ["-b", "0,64", "-B", "30", uri(`/${thing}`)]);
  const requests = sent(run).filter((m) => m.code === "GET");
  requests.forEach((m, i) => t.deepEqual(block(opt(m, "Block2")), { num: i, more: false, size: 64 }));
  checkBlock2(t, received(run), 64, "2.05", Buffer.byteLength(run.body));
  t.like(JSON.parse(run.body), { title: `Flowchain node ${node.id.slice(0, 8)}` });
});

test("TD_COAP_BLOCK_02 GET of the TD with no Block2 asked for (late negotiation): the server cuts 1024-byte blocks", async (t) => {
  const run = await libcoapOk(t, ["-B", "30", uri(`/${thing}`)]);
  const requests = sent(run).filter((m) => m.code === "GET");
  t.is(opt(requests[0]!, "Block2"), undefined);
  requests
    .slice(1)
    .forEach((m, i) => t.deepEqual(block(opt(m, "Block2")), { num: i + 1, more: false, size: 1024 }));
  checkBlock2(t, received(run), 1024, "2.05", Buffer.byteLength(run.body));
  t.like(JSON.parse(run.body), { title: `Flowchain node ${node.id.slice(0, 8)}` });
});

/** libcoap POSTing `input` to the query action in 64-byte blocks (-b asks for them both ways). */
const queryIn64ByteBlocks = (input: string): string[] => [
  "-m",
  "post",
  "-t",
  "50",
  "-b",
  "0,64",
  "-e",
  input,
  "-B",
  "30",
  res("actions/query"),
];

test("TD_COAP_BLOCK_04 POST with Block1 (to an action: 2.31 for each block, 2.04 for the last; it creates nothing)", async (t) => {
  const input = JSON.stringify({ from: 0, to: 1, source: "s".repeat(200) });
  const run = await libcoapOk(t, queryIn64ByteBlocks(input));
  const blocks = sent(run).filter((m) => m.code === "POST");
  t.is(blocks.length, Math.ceil(input.length / 64));
  blocks.forEach((m, i) => {
    const last = i === blocks.length - 1;
    t.deepEqual(block(opt(m, "Block1")), { num: i, more: !last, size: 64 });
    const answer = answerTo(run, m);
    t.is(answer.code, last ? "2.04" : "2.31", `block ${i}`);
    t.deepEqual(block(opt(answer, "Block1")), { num: i, more: !last, size: 64 }, `block ${i}`);
  });
  t.like(JSON.parse(run.body), { records: [], complete: true });
});

test.serial(
  "TD_COAP_BLOCK_05 POST with Block1 and a Block2 answer (two-way): 2.31s, then 2.04 with Block1 and Block2",
  async (t) => {
    // A source long enough for the input to take three 64-byte blocks.
    const source = `plugtest-block-${"b".repeat(80)}`;
    for (let i = 0; i < 12; i++) await put(source, "p".repeat(150));
    const input = JSON.stringify({ from: 0, to: Date.now() + 60_000, source, limit: 1000 });
    t.true(input.length > 128);
    const run = await libcoapOk(t, queryIn64ByteBlocks(input));
    const uploads = sent(run).filter((m) => m.code === "POST" && m.options.has("Block1"));
    const last = uploads[uploads.length - 1]!;
    const final = answerTo(run, last);
    t.is(final.code, "2.04");
    t.is(uploads.length, Math.ceil(input.length / 64));
    for (const m of uploads.slice(0, -1)) t.is(answerTo(run, m).code, "2.31");
    t.deepEqual(block(opt(final, "Block1")), { num: uploads.length - 1, more: false, size: 64 });
    // libcoap suggests no Block2 size for the answer, so the server cuts it at its own, 1024.
    t.deepEqual(block(opt(final, "Block2")), { num: 0, more: true, size: 1024 });
    // Further blocks: POSTs without Block1 nor payload, each answered 2.04 with the next Block2.
    const followUps = sent(run).filter((m) => m.code === "POST" && !m.options.has("Block1"));
    t.true(followUps.length > 0);
    for (const m of followUps) t.is(m.payload, undefined);
    const answers = [final, ...followUps.map((m) => answerTo(run, m))];
    checkBlock2(t, answers, 1024, "2.04", Buffer.byteLength(run.body));
    t.is((JSON.parse(run.body) as { records: unknown[] }).records.length, 12);
  },
);

test("TD_COAP_BLOCK_06 GET in 16-byte blocks (SZX 0)", async (t) => {
  const run = await libcoapOk(t, ["-b", "0,16", "-B", "30", res("properties/chain")]);
  checkBlock2(t, received(run), 16, "2.05", Buffer.byteLength(run.body));
  t.is(typeof (JSON.parse(run.body) as { height: number }).height, "number");
});

// ---- TD_COAP_OBS -----------------------------------------------------------------------------

/** Observes `chain` with libcoap, putting records until `count` notifications have come. */
async function observeChain(t: ExecutionContext, extra: string[], count: number) {
  const proc = await startLibcoap(t, [...extra, "-s", "120", "-B", "120", res("properties/chain")]);
  // The registration's response and the notifications carry Observe (answers to the GETs for
  // the rest of a representation sent in blocks do not).
  const observed = (ms: TracedMessage[]) =>
    received(ms).filter((m) => m.code === "2.05" && m.options.has("Observe"));
  await eventually(async () => observed(proc.trace()).length > 0, "the registration's 2.05");
  await eventually(
    async () => {
      const n = observed(proc.trace()).length - 1;
      if (n < count) await put();
      return n >= count;
    },
    `${count} chain notifications`,
    60_000,
    1_000,
  );
  proc.stop();
  const run = await proc.done;
  const req = sent(run).find((m) => m.code === "GET")!;
  const responses = observed(run.messages).filter((m) => m.token === req.token);
  return { run, req, registration: responses[0]!, notifications: responses.slice(1) };
}

const observeNumber = (m: TracedMessage): number => Number(opt(m, "Observe"));

test.serial(
  "TD_COAP_OBS_01 observation with CON notifications: ACK 2.05 with Observe, then CON notifications with rising Observe, acknowledged",
  async (t) => {
    const { run, req, registration, notifications } = await observeChain(t, [], 2);
    t.like(req, { type: "CON", code: "GET" });
    t.is(opt(req, "Observe"), "0");
    t.like(registration, { type: "ACK", mid: req.mid, token: req.token });
    t.is(opt(registration, "Content-Format"), "application/json");
    let last = observeNumber(registration);
    for (const n of notifications) {
      t.is(n.type, "CON");
      t.is(opt(n, "Content-Format"), "application/json");
      t.true(observeNumber(n) > last, `Observe ${observeNumber(n)} after ${last}`);
      last = observeNumber(n);
      t.like(
        sent(run).find((m) => m.mid === n.mid),
        { type: "ACK", code: "0.00" },
      );
    }
  },
);

test.serial(
  "TD_COAP_OBS_02 observation with NON: NON notifications with the same Content-Format and rising Observe",
  async (t) => {
    const { req, registration, notifications } = await observeChain(t, ["-N"], 2);
    t.is(req.type, "NON");
    t.like(registration, { type: "NON", token: req.token });
    let last = observeNumber(registration);
    for (const n of notifications) {
      t.is(n.type, "NON");
      t.is(opt(n, "Content-Format"), opt(registration, "Content-Format"));
      t.true(observeNumber(n) > last);
      last = observeNumber(n);
    }
  },
);

test.serial(
  "TD_COAP_OBS_09 update of the observed resource: the notification carries the new value",
  async (t) => {
    const { registration, notifications } = await observeChain(t, [], 1);
    const before = JSON.parse(registration.payload!) as { height: number; head: string };
    const after = JSON.parse(notifications[0]!.payload!) as { height: number; head: string };
    t.true(after.height > before.height);
    t.not(after.head, before.head);
    t.is(opt(notifications[0]!, "Content-Format"), opt(registration, "Content-Format"));
  },
);

/** A raw client's observation of `chain` from one endpoint (libcoap cannot send a second request
 * from the endpoint that observes). */
async function rawObservation(t: ExecutionContext) {
  const raw = await RawCoapClient.open(t, port);
  const token = Buffer.from("obs-raw");
  const registration = await raw.observe(`/${thing}/properties/chain`, token);
  t.is(codeString(registration.code), "2.05");
  return { raw, token, registration };
}

async function nextNotification(raw: RawCoapClient, token: Buffer) {
  let got: Awaited<ReturnType<RawCoapClient["receive"]>> | undefined;
  await eventually(
    async () => {
      await put();
      got = await raw
        .receive((m) => m.token.equals(token) && m.type !== CoapType.ACK, 1_500)
        .catch(() => undefined);
      return got !== undefined;
    },
    "a chain notification",
    60_000,
    0,
  );
  if (got!.type === CoapType.CON) raw.ack(got!);
  return got!;
}

test.serial(
  "TD_COAP_OBS_10 a GET without Observe from the observer does not cancel its observation",
  async (t) => {
    const { raw, token } = await rawObservation(t);
    const plain = await raw.request("GET", `/${thing}/properties/chain`, { token: Buffer.from("plain") });
    t.is(codeString(plain.code), "2.05");
    t.false(plain.options.some((o) => o.number === CoapOption.Observe));
    const n = await nextNotification(raw, token);
    t.is(codeString(n.code), "2.05");
    t.true(n.options.some((o) => o.number === CoapOption.Observe));
  },
);

test.serial(
  "TD_COAP_OBS_12 a GET with Observe=1 cancels the observation: 2.05 without Observe, no more notifications",
  async (t) => {
    const { raw, token } = await rawObservation(t);
    const cancel = await raw.request("GET", `/${thing}/properties/chain`, { token, observe: 1 });
    t.is(codeString(cancel.code), "2.05");
    t.false(cancel.options.some((o) => o.number === CoapOption.Observe));
    // A second observer gets the next change; the cancelled one has had nothing by then.
    const other = await RawCoapClient.open(t, port);
    const otherToken = Buffer.from("obsother");
    await other.observe(`/${thing}/properties/chain`, otherToken);
    await nextNotification(other, otherToken);
    t.is(
      raw.pendingCount((m) => m.token.equals(token)),
      0,
    );
  },
);

test.serial(
  "TD_COAP_OBS_13 observation of a resource larger than the block asked for: registration and notifications in Block2",
  async (t) => {
    // `chain` (about 330 bytes) in the 64-byte blocks libcoap asks for.
    const { run, registration, notifications } = await observeChain(t, ["-b", "0,64"], 1);
    t.deepEqual(block(opt(registration, "Block2")), { num: 0, more: true, size: 64 });
    t.is(payloadLength(registration), 64);
    const first = notifications[0]!;
    t.is(first.type, "CON");
    t.deepEqual(block(opt(first, "Block2")), { num: 0, more: true, size: 64 });
    t.is(payloadLength(first), 64);
    t.is(opt(first, "Content-Format"), opt(registration, "Content-Format"));
    t.true(observeNumber(first) > observeNumber(registration));
    // The client gets the rest of each with GETs for the further blocks (cf. TD_COAP_BLOCK_02).
    const rest = sent(run).filter(
      (m) => m.code === "GET" && m.options.has("Block2") && !m.options.has("Observe"),
    );
    t.true(rest.length >= 2 * (Math.ceil(320 / 64) - 1));
    for (const m of rest) {
      const answer = answerTo(run, m);
      t.is(answer.code, "2.05");
      t.is(block(opt(answer, "Block2")).num, block(opt(m, "Block2")).num);
    }
  },
);

// ---- TD_COAP_LINK ----------------------------------------------------------------------------

const THING_LINK = () => new RegExp(`^</${thing}>;rt="wot.thing";ct=432;title="[^"]*"$`);

async function discover(t: ExecutionContext, query: string): Promise<TracedMessage & { body: string }> {
  const run = await libcoapOk(t, ["-B", "10", uri(`/.well-known/core${query}`)]);
  const [req, answer] = exchange(run);
  t.like(answer, { type: "ACK", code: "2.05", mid: req.mid, token: req.token });
  t.is(opt(answer, "Content-Format"), "application/link-format");
  return { ...answer, body: run.body };
}

test("TD_COAP_LINK_01 GET /.well-known/core: 2.05, link-format, every resource", async (t) => {
  t.regex((await discover(t, "")).body, THING_LINK());
});

test("TD_COAP_LINK_02 filter by rt: only links of that type", async (t) => {
  t.regex((await discover(t, "?rt=wot.thing")).body, THING_LINK());
  t.is((await discover(t, "?rt=wot.directory")).body, "");
});

test("TD_COAP_LINK_03 rt=* (empty prefix): the links that have an rt", async (t) => {
  t.regex((await discover(t, "?rt=*")).body, THING_LINK());
});

test("TD_COAP_LINK_05 if=If*: no link has an if attribute, so none matches", async (t) => {
  t.is((await discover(t, "?if=If*")).body, "");
  t.is((await discover(t, "?if=*")).body, "");
});

test("TD_COAP_LINK_06 sz=*: no link has an sz attribute, so none matches", async (t) => {
  t.is((await discover(t, "?sz=*")).body, "");
});

test("TD_COAP_LINK_07 href with a complete value: only that link", async (t) => {
  t.regex((await discover(t, `?href=/${thing}`)).body, THING_LINK());
  t.is((await discover(t, "?href=/link1")).body, "");
});

test("TD_COAP_LINK_08 href with a prefix value: the links under it", async (t) => {
  t.regex((await discover(t, "?href=/flowchain-node-*")).body, THING_LINK());
  t.is((await discover(t, "?href=/link*")).body, "");
});
