import test from "ava";
import {
  CoapOption,
  CoapType,
  codeNumber,
  codeString,
  encodeMessage,
  readUint,
} from "./helpers/coap-messages.js";
import {
  ADMIN_TOKEN,
  RawCoapClient,
  formOnlyServer,
  runCoapClient,
  startThing,
  until,
} from "./wot-coap-helpers.js";

const observeOf = (m: { options: { number: number; value: Buffer }[] }): number | undefined => {
  const o = m.options.find((x) => x.number === CoapOption.Observe);
  return o === undefined ? undefined : readUint(o.value);
};
const json = (m: { payload: Buffer }): unknown => JSON.parse(m.payload.toString("utf8"));

test("libcoap coap-client observing an event gets exactly one notification per emitted event", async (t) => {
  const { server, thing, port } = await startThing(t);
  const client = runCoapClient(t, ["-s", "60", "-B", "60", "-w", `coap://127.0.0.1:${port}/t/events/block`]);
  await until(() => server.observerCount() === 1, "libcoap registration");
  for (let i = 1; i <= 5; i++) thing.emitEvent("block", { height: i });
  await until(() => client.lines.length >= 5, "5 notifications");
  // A sixth event proves nothing was duplicated: it must arrive as the sixth line, not later.
  thing.emitEvent("block", { height: 6 });
  await until(() => client.lines.length >= 6, "6th notification");
  t.deepEqual(
    client.lines.map((l) => JSON.parse(l)),
    [1, 2, 3, 4, 5, 6].map((height) => ({ height })),
  );
});

test("an event registration is acknowledged empty; the first event is the separate response", async (t) => {
  const { server, thing, port } = await startThing(t);
  const raw = await RawCoapClient.open(t, port);
  const token = Buffer.from("obs1");
  const ack = await raw.observe("/t/events/block", token);
  // No 2.05 without an event: clients decode every response of an observation as an event.
  t.is(ack.code, 0);
  t.is(ack.token.length, 0);
  t.is(server.observerCount(), 1);
  const seqs: number[] = [];
  for (let i = 0; i < 3; i++) {
    thing.emitEvent("block", { height: i });
    const n = await raw.receive((m) => m.token.equals(token) && m.type === CoapType.CON);
    t.is(codeString(n.code), "2.05");
    t.is(readUint(n.options.find((o) => o.number === CoapOption.ContentFormat)!.value), 50);
    t.deepEqual(json(n), { height: i });
    seqs.push(observeOf(n)!);
    raw.ack(n);
  }
  for (let i = 1; i < seqs.length; i++) t.true(seqs[i]! > seqs[i - 1]!, `sequence ${seqs.join(",")}`);
  t.is(
    raw.pendingCount((m) => m.token.equals(token) && m.payload.length === 0),
    0,
  );
});

test("deregistration with Observe=1 removes the observer and stops notifications", async (t) => {
  const { server, thing, port } = await startThing(t);
  const raw = await RawCoapClient.open(t, port);
  const token = Buffer.from("dereg");
  await raw.observe("/t/events/block", token);
  t.is(server.observerCount(), 1);
  const sentBefore = server.notificationCount();
  const dereg = await raw.request("GET", "/t/events/block", { observe: 1, token });
  t.is(codeString(dereg.code), "2.05");
  t.is(observeOf(dereg), undefined);
  t.is(server.observerCount(), 0);
  thing.emitEvent("block", { height: 1 });
  // An interleaved request/response proves the server has processed the emission.
  await raw.request("GET", "/t");
  t.is(server.notificationCount(), sentBefore);
  t.is(
    raw.pendingCount((m) => m.token.equals(token)),
    0,
  );
});

test("a RST in reply to a notification removes the observer", async (t) => {
  const { server, thing, port } = await startThing(t);
  const raw = await RawCoapClient.open(t, port);
  const token = Buffer.from("rst1");
  await raw.observe("/t/events/block", token);
  thing.emitEvent("block", { height: 1 });
  const n = await raw.receive((m) => m.token.equals(token) && m.type === CoapType.CON);
  raw.send({ type: CoapType.RST, code: 0, messageId: n.messageId });
  await until(() => server.observerCount() === 0, "observer removed by RST");
  const sent = server.notificationCount();
  thing.emitEvent("block", { height: 2 });
  await raw.request("GET", "/t");
  t.is(server.notificationCount(), sent);
});

test("NON registration gets NON notifications and RST to one ends the relation", async (t) => {
  const { server, thing, port } = await startThing(t);
  const raw = await RawCoapClient.open(t, port);
  const token = Buffer.from("non1");
  raw.send({
    type: CoapType.NON,
    code: codeNumber("0.01"),
    token,
    options: [
      { number: CoapOption.Observe, value: Buffer.alloc(0) },
      ...["t", "events", "block"].map((s) => ({ number: CoapOption.UriPath, value: Buffer.from(s) })),
    ],
  });
  await until(() => server.observerCount() === 1, "NON registration");
  thing.emitEvent("block", { height: 7 });
  const n = await raw.receive((m) => m.token.equals(token) && m.type === CoapType.NON);
  t.deepEqual(json(n), { height: 7 });
  raw.send({ type: CoapType.RST, code: 0, messageId: n.messageId });
  await until(() => server.observerCount() === 0, "observer removed by RST");
  t.pass();
});

test("two observers each get every event once (no shared-stream loss)", async (t) => {
  const { server, thing, port } = await startThing(t);
  const a = await RawCoapClient.open(t, port);
  const b = await RawCoapClient.open(t, port);
  await a.observe("/t/events/block", Buffer.from("a"));
  await b.observe("/t/events/block", Buffer.from("b"));
  t.is(server.observerCount(), 2);
  thing.emitEvent("block", { height: 9 });
  const na = await a.receive((m) => m.type === CoapType.CON);
  const nb = await b.receive((m) => m.type === CoapType.CON);
  t.deepEqual(json(na), { height: 9 });
  t.deepEqual(json(nb), { height: 9 });
});

test("property observation notifies on change and does not crash on deregistration", async (t) => {
  const { server, port } = await startThing(t);
  const raw = await RawCoapClient.open(t, port);
  const token = Buffer.from("prop");
  const first = await raw.request("GET", "/t/properties/counter", { observe: 0, token });
  t.is(codeString(first.code), "2.05");
  t.is(json(first), 0);
  t.not(observeOf(first), undefined);
  const put = await raw.request("PUT", "/t/properties/label", { payload: '"y"', contentFormat: 50 });
  t.is(codeString(put.code), "2.04");
  const n = await raw.receive((m) => m.token.equals(token) && m.type === CoapType.CON);
  t.is(json(n), 1);
  raw.send({ type: CoapType.ACK, code: 0, messageId: n.messageId });
  await raw.request("GET", "/t/properties/counter", { observe: 1, token });
  t.is(server.observerCount(), 0);
  const read = await raw.request("GET", "/t/properties/label");
  t.is(json(read), "y");
  const wrongPut = await raw.request("PUT", "/t/properties/counter", { payload: "5", contentFormat: 50 });
  t.is(codeString(wrongPut.code), "4.05");
  const badWrite = await raw.request("PUT", "/t/properties/label", { payload: "5", contentFormat: 50 });
  t.is(codeString(badWrite.code), "4.00");
});

test("invalid action input gets 4.00 with a message and never reaches the handler", async (t) => {
  const { port, echoCalls } = await startThing(t);
  const raw = await RawCoapClient.open(t, port);
  for (const payload of ['{"n":"one"}', "{}", "{not json", "[1,2]", ""]) {
    const res = await raw.request("POST", "/t/actions/echo", { payload, contentFormat: 50 });
    t.is(codeString(res.code), "4.00", payload);
    const body = json(res) as { status: number; detail: string };
    t.is(body.status, 400, payload);
    t.regex(body.detail, /^echo: input/, payload);
  }
  t.deepEqual(echoCalls, []);
  const ok = await raw.request("POST", "/t/actions/echo", { payload: '{"n":3}', contentFormat: 50 });
  t.is(codeString(ok.code), "2.04");
  t.deepEqual(json(ok), { n: 3 });
  t.deepEqual(echoCalls, [{ n: 3 }]);
});

test("handler errors map to CoAP codes; unknown resources 4.04; wrong methods 4.05", async (t) => {
  const { port } = await startThing(t);
  const raw = await RawCoapClient.open(t, port);
  const fail = async (name: string): Promise<string> =>
    codeString(
      (await raw.request("POST", "/t/actions/fail", { payload: JSON.stringify(name), contentFormat: 50 }))
        .code,
    );
  t.is(await fail("InputError"), "4.00");
  t.is(await fail("AuthError"), "4.01");
  t.is(await fail("NotFoundError"), "4.04");
  const internal = await raw.request("POST", "/t/actions/fail", { payload: '"Error"', contentFormat: 50 });
  t.is(codeString(internal.code), "5.00");
  t.notRegex(internal.payload.toString(), /failing with/);
  t.is(codeString((await raw.request("GET", "/nothing")).code), "4.04");
  t.is(codeString((await raw.request("GET", "/t/actions/nope")).code), "4.04");
  t.is(codeString((await raw.request("GET", "/t/actions/echo")).code), "4.05");
  t.is(codeString((await raw.request("POST", "/t")).code), "4.05");
  t.is(codeString((await raw.request("DELETE", "/t/events/block")).code), "4.05");
});

test("admin-only action: 4.01 without token, 4.03 with a wrong one, 2.04 with the admin token", async (t) => {
  const { port, thing } = await startThing(t);
  const raw = await RawCoapClient.open(t, port);
  t.is(codeString((await raw.request("POST", "/t/actions/inventory")).code), "4.01");
  t.is(
    codeString((await raw.request("POST", "/t/actions/inventory", { query: "access_token=nope" })).code),
    "4.03",
  );
  const ok = await raw.request("POST", "/t/actions/inventory", { query: `access_token=${ADMIN_TOKEN}` });
  t.is(codeString(ok.code), "2.04");
  t.deepEqual(json(ok), { items: 3 });
  const td = thing.getThingDescription() as WoT.ThingDescription;
  const form = (td.actions!.inventory!.forms as Array<{ href: string; security?: string[] }>).find((f) =>
    f.href.startsWith("coap:"),
  )!;
  t.deepEqual(form.security, ["coap_bearer_sc"]);
  t.like(td.securityDefinitions.coap_bearer_sc, { scheme: "bearer", in: "query", name: "access_token" });
  const echoForm = (td.actions!.echo!.forms as Array<{ href: string; security?: string[] }>).find((f) =>
    f.href.startsWith("coap:"),
  )!;
  t.is(echoForm.security, undefined);
});

test("TD is served with ct 432 and its forms use the advertised host only", async (t) => {
  const { port } = await startThing(t, { host: "127.0.0.1" });
  const raw = await RawCoapClient.open(t, port);
  // The TD is larger than one datagram, so this also exercises node-coap's Block2 responses.
  const { first, body } = await raw.getBlockwise("/t");
  t.is(codeString(first.code), "2.05");
  const cf = first.options.find((o) => o.number === CoapOption.ContentFormat)!;
  t.is(readUint(cf.value), 432);
  const td = JSON.parse(body.toString("utf8")) as WoT.ThingDescription;
  const hrefs: string[] = [];
  for (const kind of ["properties", "actions", "events"] as const) {
    for (const aff of Object.values(td[kind] ?? {})) {
      for (const f of (aff as { forms: Array<{ href: string }> }).forms) hrefs.push(f.href);
    }
  }
  t.true(hrefs.length > 0);
  for (const h of hrefs) t.true(h.startsWith(`coap://127.0.0.1:${port}/t/`), h);
  const ev = (td.events!.block!.forms as Array<Record<string, unknown>>)[0]!;
  t.deepEqual(ev, {
    href: `coap://127.0.0.1:${port}/t/events/block`,
    contentType: "application/json",
    op: ["subscribeevent", "unsubscribeevent"],
    subprotocol: "cov:observe",
  });
});

test("libcoap reads the TD and /.well-known/core lists it with rt=wot.thing and ct=432", async (t) => {
  const { port } = await startThing(t);
  const core = runCoapClient(t, ["-B", "10", `coap://127.0.0.1:${port}/.well-known/core`]);
  await core.exited;
  t.is(core.lines.join(""), '</t>;rt="wot.thing";ct=432;title="t"');
  const td = runCoapClient(t, ["-B", "10", "-A", "432", `coap://127.0.0.1:${port}/t`]);
  await td.exited;
  t.is((JSON.parse(td.lines.join("")) as { title: string }).title, "t");
});

test("malformed datagrams do not crash the server", async (t) => {
  const { port } = await startThing(t);
  const raw = await RawCoapClient.open(t, port);
  const garbage = [
    Buffer.alloc(0),
    Buffer.from([0xff]),
    Buffer.from([0x40]),
    Buffer.from([0x4f, 0x01, 0x00, 0x01]), // token length 15
    Buffer.from([0x40, 0x01, 0x00, 0x02, 0xff]), // payload marker without payload
    Buffer.from([0x40, 0x01, 0x00, 0x03, 0xdd]), // truncated extended option
    Buffer.from([0x40, 0x01, 0x00, 0x04, 0xbf]), // reserved length nibble
    Buffer.from([0x80, 0x01, 0x00, 0x05]), // version 2
    Buffer.from([0x40, 0x45, 0x00, 0x06]), // a response sent to a server
    Buffer.from([0x70, 0x00, 0x00, 0x07]), // stray RST
    encodeMessage({
      type: CoapType.CON,
      code: codeNumber("0.01"),
      messageId: 8,
      token: Buffer.alloc(0),
      options: [{ number: CoapOption.UriPath, value: Buffer.from([0xe0, 0x80, 0x80, 0x25]) }],
      payload: Buffer.alloc(0),
    }),
    encodeMessage({
      type: CoapType.CON,
      code: codeNumber("0.01"),
      messageId: 9,
      token: Buffer.from("x"),
      options: [{ number: CoapOption.Observe, value: Buffer.from([1, 2, 3, 4, 5]) }],
      payload: Buffer.alloc(0),
    }),
  ];
  for (let i = 0; i < 200; i++)
    garbage.push(Buffer.from(Array.from({ length: i % 40 }, (_, j) => (i * 31 + j * 7) & 0xff)));
  for (const g of garbage) raw.sendRaw(g);
  const res = await raw.request("GET", "/t");
  t.is(codeString(res.code), "2.05");
});

test("pruning other servers' forms after expose does not break events or actions", async (t) => {
  const { server, thing, port } = await startThing(t, {}, formOnlyServer);
  for (const aff of [thing.events.block!, thing.actions.echo!]) {
    t.is((aff.forms as unknown[]).length, 2);
    aff.forms = (aff.forms as Array<{ href: string }>).filter((f) =>
      f.href.startsWith("coap:"),
    ) as typeof aff.forms;
  }
  const raw = await RawCoapClient.open(t, port);
  const token = Buffer.from("pruned");
  await raw.observe("/t/events/block", token);
  t.is(server.observerCount(), 1);
  thing.emitEvent("block", { height: 1 });
  const n = await raw.receive((m) => m.token.equals(token) && m.type === CoapType.CON);
  t.deepEqual(json(n), { height: 1 });
  const ok = await raw.request("POST", "/t/actions/echo", { payload: '{"n":1}', contentFormat: 50 });
  t.is(codeString(ok.code), "2.04");
});

test("replies that start no observation carry no Observe option; observer limit answers 5.03", async (t) => {
  const { server, port } = await startThing(t, { maxObservers: 1 });
  const raw = await RawCoapClient.open(t, port);
  const missing = await raw.request("GET", "/t/events/nope", { observe: 0 });
  t.is(codeString(missing.code), "4.04");
  t.is(observeOf(missing), undefined);
  t.regex(missing.payload.toString(), /no event nope/);
  const plain = await raw.request("GET", "/t/properties/label", { observe: 0 });
  t.is(codeString(plain.code), "2.05");
  t.is(observeOf(plain), undefined);
  t.is(json(plain), "x");
  t.is(server.observerCount(), 0);
  const ok = await raw.observe("/t/events/block", Buffer.from("one"));
  t.is(ok.code, 0);
  const full = await raw.observe("/t/events/block", Buffer.from("two"));
  t.is(codeString(full.code), "5.03");
  t.is(observeOf(full), undefined);
  t.is(server.observerCount(), 1);
});

test("an observer that never acknowledges CON notifications is dropped after the retransmissions", async (t) => {
  const { server, thing, port } = await startThing(t, { ackTimeoutMs: 20 });
  const raw = await RawCoapClient.open(t, port);
  const token = Buffer.from("gone");
  await raw.observe("/t/events/block", token);
  thing.emitEvent("block", { height: 1 });
  await until(() => server.observerCount() === 0, "timeout removal");
  // The original transmission plus MAX_RETRANSMIT=4 retransmissions, all the same message.
  const copies: number[] = [];
  while (raw.pendingCount((m) => m.token.equals(token)) > 0) {
    copies.push((await raw.receive((m) => m.token.equals(token))).messageId);
  }
  t.is(copies.length, 5);
  t.is(new Set(copies).size, 1);
});

test("CoAP ping gets a RST; a failing subscribe handler gives 5.00 once and does not stick", async (t) => {
  const { server, thing, port } = await startThing(t);
  const raw = await RawCoapClient.open(t, port);
  const ping = raw.send({ type: CoapType.CON, code: 0 });
  const pong = await raw.receive((m) => m.messageId === ping.messageId);
  t.is(pong.type, CoapType.RST);
  let calls = 0;
  thing.setEventSubscribeHandler("block", async () => {
    calls += 1;
    if (calls === 1) throw new Error("not yet");
  });
  const refused = await raw.observe("/t/events/block", Buffer.from("f1"));
  t.is(codeString(refused.code), "5.00");
  t.is(server.observerCount(), 0);
  const ok = await raw.observe("/t/events/block", Buffer.from("f2"));
  t.is(ok.code, 0);
  t.is(server.observerCount(), 1);
  t.is(calls, 2);
});

test("well-formed messages with random options and payloads do not crash the server", async (t) => {
  const { port } = await startThing(t);
  const raw = await RawCoapClient.open(t, port);
  // Deterministic pseudo-random generator so a failure can be replayed.
  let seed = 0x2545f491;
  const rand = (n: number): number => {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return (seed >>> 0) % n;
  };
  const optionNumbers = [1, 3, 4, 5, 6, 7, 8, 11, 12, 14, 15, 17, 20, 23, 27, 28, 35, 39, 60, 258, 2049];
  const bytes = (n: number): Buffer => Buffer.from(Array.from({ length: n }, () => rand(256)));
  const paths = ["t", "events", "block", "actions", "echo", "properties", "label", ".well-known", "core"];
  for (let i = 0; i < 1500; i++) {
    const options = Array.from({ length: rand(6) }, () => {
      const number = optionNumbers[rand(optionNumbers.length)]!;
      const value = number === 11 && rand(2) === 0 ? Buffer.from(paths[rand(paths.length)]!) : bytes(rand(6));
      return { number, value };
    });
    raw.sendRaw(
      encodeMessage({
        type: [CoapType.CON, CoapType.NON][rand(2)] as 0 | 1,
        code: 1 + rand(7),
        messageId: i,
        token: bytes(rand(9)),
        options,
        payload: bytes(rand(3) === 0 ? rand(2000) : 0),
      }),
    );
    if (i % 100 === 0) await raw.request("GET", "/t/properties/label");
  }
  const res = await raw.request("POST", "/t/actions/echo", { payload: '{"n":1}', contentFormat: 50 });
  t.is(codeString(res.code), "2.04");
});
