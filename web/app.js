// The explorer: reads only this node's public WoT interface (its TD's forms and the Thing
// Directory), from the node that served the page. The ring from the directory and the `ring`
// property, this node's branch from `chain`, a live feed from the Thing's events, and any record
// looked up with its inclusion proof checked here, step by step (proof-verify.js).
import { verifyProof } from "./proof-verify.js";

const $ = (id) => document.getElementById(id);
const SVG = "http://www.w3.org/2000/svg";
const POLL_MS = 2000;

/** A form's URL on the origin the page came from (the TD names the node's advertised host). */
function local(href) {
  const u = new URL(href);
  if (u.protocol === "http:" || u.protocol === "https:")
    return new URL(u.pathname + u.search, location.origin);
  if (u.protocol === "ws:" || u.protocol === "wss:") u.hostname = location.hostname;
  return u;
}
const formOf = (affordance, scheme, op) =>
  affordance?.forms?.find(
    (f) => f.href.startsWith(scheme) && (op === undefined || [].concat(f.op ?? []).includes(op)),
  );

async function json(url, init) {
  const res = await fetch(url, init);
  const text = await res.text();
  if (!res.ok) throw new Error(`${res.status}: ${text}`);
  return JSON.parse(text);
}

const state = {
  td: null,
  self: null,
  members: new Map(),
  checkpoint: null,
  ring: null,
  feed: [],
  times: { block: [], transaction: [], verified: [] },
};

const readProperty = (name) => json(local(formOf(state.td.properties[name], "http", "readproperty").href));
const invoke = (name, input) =>
  json(local(formOf(state.td.actions[name], "http").href), {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(input),
  });

const short = (h) => (typeof h === "string" ? h.slice(0, 12) : String(h));
const idOfTd = (td) => String(td.id ?? "").replace(/^urn:flowchain:node:/, "");

// ---- ring --------------------------------------------------------------------------------------

async function directory() {
  const out = [];
  for (let offset = 0; offset < 10_000; offset += 100) {
    const page = await json(`/things?offset=${offset}&limit=100`);
    out.push(...page);
    if (page.length < 100) break;
  }
  return out;
}

async function refreshRing() {
  const [tds, ring] = await Promise.all([directory(), readProperty("ring")]);
  const now = Date.now();
  const live = new Set(tds.map(idOfTd));
  for (const id of live) state.members.set(id, { id, up: true, seen: now });
  // A member missing from the directory is not forgotten: it turns grey.
  for (const m of state.members.values()) if (!live.has(m.id)) m.up = false;
  state.ring = ring;
  drawRing();
  // A member that died since the slower panels were read turns grey there too.
  if (state.checkpoint) drawBranches(state.checkpoint);
  for (const tr of $("balances").tBodies[0].rows)
    tr.classList.toggle("down", state.members.get(tr.dataset.member)?.up === false);
  $("ring-panel").dataset.refreshed = String(now);
}

function angleOf(id) {
  return (parseInt(id.slice(0, 8), 16) / 2 ** 32) * 2 * Math.PI - Math.PI / 2;
}
const pos = (id, r = 130) => [Math.cos(angleOf(id)) * r, Math.sin(angleOf(id)) * r];

function el(name, attrs, parent) {
  const e = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  parent?.appendChild(e);
  return e;
}

function drawRing() {
  const svg = $("ring");
  svg.replaceChildren();
  el("circle", { cx: 0, cy: 0, r: 130, fill: "none", stroke: "#d1d5db" }, svg);
  const me = state.self;
  const edge = (to, cls) => {
    const [x1, y1] = pos(me);
    const [x2, y2] = pos(to);
    el("line", { x1, y1, x2, y2, class: cls }, svg);
  };
  for (const f of new Set((state.ring?.fingers?.entries ?? []).map((e) => e.id)))
    if (f !== me) edge(f, "finger");
  for (const s of state.ring?.successors ?? []) if (s.id !== me) edge(s.id, "succ");
  const members = [...state.members.values()];
  for (const m of members) {
    const [x, y] = pos(m.id);
    const c = el(
      "circle",
      {
        cx: x,
        cy: y,
        r: 5,
        class: `node ${m.id === me ? "me" : ""} ${m.up ? "up" : "down"}`,
        "data-id": m.id,
        "data-state": m.up ? "up" : "down",
      },
      svg,
    );
    if (m.id === me) c.setAttribute("data-self", "");
    el("title", {}, c).textContent = `${m.id}${m.up ? "" : " (gone)"}`;
    const [tx, ty] = pos(m.id, 145);
    const t = el("text", { x: tx, y: ty, "text-anchor": "middle" }, svg);
    t.textContent = m.id.slice(0, 6);
  }
  const up = members.filter((m) => m.up).length;
  $("ring-count").textContent =
    `${up} member${up === 1 ? "" : "s"}${members.length > up ? `, ${members.length - up} gone` : ""}`;
}

// ---- this node's branch ----------------------------------------------------------------------

async function refreshChain() {
  const [chain, balance, stats] = await Promise.all([
    readProperty("chain"),
    readProperty("balance"),
    readProperty("stats"),
  ]);
  const rows = [
    ["height", chain.height],
    ["head", short(chain.head)],
    ["block in use", chain.validBlock ? short(chain.validBlock) : "none (invalidated)"],
    ["difficulty tier", chain.difficulty?.tier],
    ["reliability", Number(chain.difficulty?.reliability).toFixed(3)],
    ["records sealed / unsealed", `${chain.recordsSealed} / ${chain.recordsUnsealed}`],
    ["Flowcoin balance", balance],
    ["records here", stats.records],
    ["puts/s", Number(stats.putsPerSecond).toFixed(1)],
  ];
  $("chain").replaceChildren(...rows.flatMap(([k, v]) => dlRow(k, v)));
}

function dlRow(k, v) {
  const dt = document.createElement("dt");
  dt.textContent = k;
  const dd = document.createElement("dd");
  dd.textContent = String(v);
  return [dt, dd];
}

// ---- every member's branch, live ------------------------------------------------------------

/**
 * Each member's branch as the member itself answers this node (the `branches` property): height,
 * the block in use, difficulty tier and reliability, and its latest blocks, invalidated ones red
 * and the one in use outlined; a member that does not answer is grey.
 */
async function refreshBranches() {
  if (!state.td.properties.branches) return;
  const views = await readProperty("branches");
  $("live-branches").replaceChildren(
    ...views.map(({ id, branch }) => {
      const li = document.createElement("li");
      li.dataset.miner = id;
      li.dataset.live = String(branch !== null);
      if (id === state.self) li.classList.add("me");
      const label = document.createElement("span");
      label.className = "mono";
      if (branch === null) {
        li.classList.add("down");
        label.textContent = `${short(id)} · not answering`;
        li.append(label);
        return li;
      }
      li.dataset.height = String(branch.height);
      const d = branch.difficulty ?? {};
      label.textContent =
        `${short(id)} · #${branch.height} · in use ${branch.validBlock ? short(branch.validBlock) : "none"}` +
        ` · tier ${d.tier} · reliability ${Number(d.reliability).toFixed(2)}`;
      const blocks = document.createElement("span");
      blocks.className = "blocks";
      for (const b of branch.recent ?? []) {
        const cell = document.createElement("span");
        cell.className = "block";
        if (b.invalid !== null) cell.classList.add("invalid");
        if (b.hash === branch.validBlock) cell.classList.add("inuse");
        cell.title = `#${b.height} ${short(b.hash)} ${new Date(b.timestamp).toISOString()}${b.invalid ? `: invalid (${b.invalid})` : ""}`;
        blocks.append(cell);
      }
      li.append(label, blocks);
      return li;
    }),
  );
}

// ---- Flowcoin and the last checkpoint ---------------------------------------------------------

const FLOWCOIN_SOURCE = "urn:flowchain:flowcoin";
const GRANT_PAGES = 10;
const FLOWCOIN_EVERY = 5;

/**
 * Every member's grants as the ring's records say (the `query` action over the Flowcoin source),
 * one per paid transaction; a member's own `balance` also checks each grant's transaction, which
 * only that member can do cheaply, so this node's row shows its checked balance beside.
 */
async function refreshFlowcoin() {
  const paid = new Map();
  let cursor;
  let complete = true;
  for (let page = 0; page < GRANT_PAGES; page++) {
    const r = await invoke("query", {
      from: 0,
      to: Date.now() + 86_400_000,
      source: FLOWCOIN_SOURCE,
      limit: 1000,
      ...(cursor ? { cursor } : {}),
    });
    // A range a dead member held is missing until its replicas take over: said, not hidden.
    if (r.complete === false) complete = false;
    for (const g of r.records) {
      const v = g.value;
      if (v?.["@type"] !== "FlowcoinGrant" || typeof v.to !== "string") continue;
      if (!paid.has(v.to)) paid.set(v.to, new Set());
      paid.get(v.to).add(v.txID);
    }
    if (!r.next) break;
    cursor = r.next;
  }
  const balance = await readProperty("balance").catch(() => null);
  const ids = new Set([...state.members.keys(), ...paid.keys()]);
  const rows = [...ids].sort().map((id) => {
    const tr = document.createElement("tr");
    tr.dataset.member = id;
    tr.dataset.grants = String(paid.get(id)?.size ?? 0);
    if (id === state.self) tr.className = "me";
    if (state.members.get(id)?.up === false) tr.classList.add("down");
    const who = document.createElement("td");
    who.className = "mono";
    who.textContent = short(id);
    const n = document.createElement("td");
    n.textContent =
      String(paid.get(id)?.size ?? 0) +
      (id === state.self && balance !== null ? ` (balance ${balance})` : "");
    tr.append(who, n);
    return tr;
  });
  $("balances").tBodies[0].replaceChildren(...rows);
  const total = [...paid.values()].reduce((n, s) => n + s.size, 0);
  $("grant-count").textContent =
    `${total} grant${total === 1 ? "" : "s"}${complete ? "" : " (partial: part of the ring did not answer)"}`;
  $("flowcoin-panel").dataset.complete = String(complete);
}

async function refreshCheckpoint() {
  if (!state.td.properties.checkpoint) return;
  const c = await readProperty("checkpoint");
  state.checkpoint = c;
  $("checkpoint").dataset.time = c ? String(c.time) : "none";
  const rows = c
    ? [
        ["signed", new Date(c.time).toISOString()],
        ["root", short(c.root)],
        ["branches", c.heads?.length],
        ["blocks", c.blocks],
        ["invalid blocks", c.invalid?.length ?? 0],
        ["unreachable", (c.unreachable ?? []).map(short).join(", ") || "none"],
        ["admin key", short(c.adminKey)],
      ]
    : [["none yet", "an admin's inventory signs one"]];
  $("checkpoint").replaceChildren(...rows.flatMap(([k, v]) => dlRow(k, v)));
  drawBranches(c);
}

/**
 * Every member's branch from the common genesis as the checkpoint saw it: a bar as long as its
 * height, its head, its invalid blocks in red; a member now gone or then unreachable in grey.
 */
function drawBranches(c) {
  const heads = c?.heads ?? [];
  const top = Math.max(1, ...heads.map((h) => h.height));
  const unreachable = new Set(c?.unreachable ?? []);
  $("branches").replaceChildren(
    ...heads.map((h) => {
      const li = document.createElement("li");
      li.dataset.miner = h.miner;
      li.dataset.height = String(h.height);
      const bad = (c.invalid ?? []).filter((b) => b.miner === h.miner);
      li.dataset.invalid = String(bad.length);
      if (h.miner === state.self) li.classList.add("me");
      if (unreachable.has(h.miner) || state.members.get(h.miner)?.up === false) li.classList.add("down");
      const bar = document.createElement("span");
      bar.className = "bar";
      bar.style.width = `${(100 * h.height) / top}%`;
      const label = document.createElement("span");
      label.className = "mono";
      label.textContent = `${short(h.miner)} · #${h.height} ${short(h.head)}`;
      li.append(bar, label);
      if (bad.length) {
        const b = document.createElement("span");
        b.className = "invalid";
        b.title = bad.map((x) => `#${x.height} ${short(x.hash)}: ${x.reason}`).join("\n");
        b.textContent = ` ${bad.length} invalid`;
        li.append(b);
      }
      return li;
    }),
  );
}

// ---- live feed -------------------------------------------------------------------------------

function onEvent(kind, data) {
  const t = Date.now();
  state.times[kind].push(t);
  const li = document.createElement("li");
  const k = document.createElement("span");
  k.className = "kind";
  k.textContent = kind;
  const text =
    kind === "block"
      ? `#${data.height} ${short(data.hash)} by ${short(data.miner)}`
      : kind === "transaction"
        ? `${short(data.txID)} ${data.source ?? ""}`
        : `${short(data.txID)} for ${short(data.miner)}`;
  li.append(k, document.createTextNode(text));
  li.dataset.kind = kind;
  // An approval is a new grant: the Flowcoin table is read again soon after, not at its next turn.
  if (kind === "verified") {
    clearTimeout(state.flowcoinSoon);
    state.flowcoinSoon = setTimeout(() => void refreshFlowcoin().catch(() => undefined), 500);
  }
  if (data.txID) li.dataset.txid = data.txID;
  $("feed").prepend(li);
  while ($("feed").children.length > 200) $("feed").lastChild.remove();
  renderRates();
}

function renderRates() {
  const since = Date.now() - 10_000;
  const parts = Object.entries(state.times).map(([k, ts]) => {
    while (ts.length && ts[0] < since) ts.shift();
    return `${k} ${(ts.length / 10).toFixed(1)}/s`;
  });
  $("rates").textContent = parts.join(" · ");
}

/** Which event kinds are live, on the feed (`data-subscribed="block transaction"`) for a reader. */
function markSubscribed(kind, on) {
  const kinds = new Set(($("feed").dataset.subscribed ?? "").split(" ").filter(Boolean));
  if (on) kinds.add(kind);
  else kinds.delete(kind);
  $("feed").dataset.subscribed = [...kinds].sort().join(" ");
}

/** WebSocket form first (every event, in order); HTTP long-poll when there is none or it fails. */
function subscribe(kind) {
  const ev = state.td.events[kind];
  const ws = formOf(ev, "ws");
  if (ws) {
    const sock = new WebSocket(local(ws.href));
    let opened = false;
    sock.onopen = () => {
      opened = true;
      markSubscribed(kind, true);
    };
    sock.onmessage = (m) => {
      try {
        onEvent(kind, JSON.parse(m.data));
      } catch {
        // Not an event: ignored.
      }
    };
    sock.onclose = () => {
      markSubscribed(kind, false);
      setTimeout(() => (opened ? subscribe(kind) : longPoll(kind)), 1000);
    };
    return;
  }
  longPoll(kind);
}

async function longPoll(kind) {
  const f = formOf(state.td.events[kind], "http");
  // A long poll is subscribed only while a request is out; close enough for a reader's signal.
  markSubscribed(kind, true);
  for (;;) {
    try {
      onEvent(kind, await json(local(f.href)));
    } catch {
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
}

// ---- record view -----------------------------------------------------------------------------

/** Tests may set this to change a proof before it is checked (the page shows it red). */
const hooks = { tamper: null };

async function lookUp(id) {
  $("record-panel").dataset.verdict = "pending";
  $("steps").replaceChildren();
  $("record").textContent = "…";
  let proof;
  try {
    proof = await invoke("proof", { txID: id });
  } catch (byTx) {
    try {
      proof = (await invoke("get", { key: id, proof: true })).proof;
    } catch (byKey) {
      $("record").textContent = `not found as a txID (${byTx.message}) nor as a key (${byKey.message})`;
      $("record-panel").dataset.verdict = "not-found";
      return null;
    }
  }
  if (typeof hooks.tamper === "function") proof = hooks.tamper(structuredClone(proof)) ?? proof;
  const report = await verifyProof(proof);
  $("steps").replaceChildren(
    ...report.steps.map((s) => {
      const li = document.createElement("li");
      li.className = s.ok ? "ok" : "fail";
      li.dataset.step = s.step;
      li.dataset.ok = String(s.ok);
      li.textContent = `${s.step}: ${s.detail}`;
      return li;
    }),
  );
  $("record-panel").dataset.verdict = report.ok ? "verified" : "failed";
  const r = proof?.record ?? {};
  $("record").textContent = JSON.stringify(
    { owner: r.miner, block: r.block, height: r.height, anchor: report.anchor ?? null, record: r },
    null,
    2,
  );
  return report;
}

// ---- start -----------------------------------------------------------------------------------

async function start() {
  state.td = await json("/.well-known/wot");
  state.self = idOfTd(state.td);
  $("node").textContent = `${state.td.title} · ${short(state.self)}`;
  for (const kind of Object.keys(state.td.events ?? {})) if (kind in state.times) subscribe(kind);
  let ticks = 0;
  const tick = async () => {
    // The ring-wide grant query is the costly read: every few ticks only.
    const slow = ticks++ % FLOWCOIN_EVERY === 0 ? [refreshFlowcoin(), refreshCheckpoint()] : [];
    // Branches ask every member: every other tick.
    const branches = ticks % 2 === 1 ? [refreshBranches()] : [];
    await Promise.allSettled([refreshRing(), refreshChain(), ...branches, ...slow]);
    renderRates();
    setTimeout(tick, POLL_MS);
  };
  await tick();
  $("lookup").addEventListener("submit", (e) => {
    e.preventDefault();
    void lookUp($("lookup-id").value.trim());
  });
  // A link to a record: /#record=<key or txID>.
  const linked = /^#record=([0-9a-f]{64})$/.exec(location.hash)?.[1];
  if (linked) {
    $("lookup-id").value = linked;
    await lookUp(linked);
  }
}

// The test hook: a browser test drives the page through this, never through private state.
window.flowchainExplorer = { lookUp, verifyProof, hooks, state, refreshFlowcoin };
start().catch((e) => ($("node").textContent = `cannot read this node's TD: ${e.message}`));
