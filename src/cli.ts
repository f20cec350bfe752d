#!/usr/bin/env node
// The `flowchain` command. Human-readable lines go to stdout; structured logs go to stderr and
// are quiet unless --log-level asks for more.
import { parseArgs } from "node:util";
import { createWriteStream, existsSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import { isIPv6 } from "node:net";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { createLogger, isLogLevel, type LogLevel } from "./log.js";
import { errorText } from "./util/errors.js";

const USAGE = `Usage:
  flowchain start [--data DIR] [--host HOST] [--port 8000] [--join HOST:PORT --token-file FILE]
                  [--http-port 8080] [--coap-port 5683] [--ws-port 8081] [--name NETWORK]
                  [--log-level debug|info|warn|error|silent] [--no-wot] [--insecure-peers]
                  [--tls-cert CERT.pem --tls-key KEY.pem]   the Thing over https:// and wss://
  flowchain verify (--data DIR | --file EXPORT.ndjson)
  flowchain export --data DIR            write blocks and records as NDJSON to stdout
  flowchain inventory [--data ADMIN_DIR] [--via HOST:PORT] [--out FILE] [--insecure-peers]
                                         merge every branch, sign and store a checkpoint (admin only)
  flowchain member remove ID [--data ADMIN_DIR] [--via HOST:PORT] [--insecure-peers]
                                         remove a member: an admin-signed revocation spreads through the ring
  flowchain token create [--ttl 24h] [--data ADMIN_DIR] [--out FILE] [--insecure-peers]
                                         make a join token (valid 24 h unless --ttl: 90s, 30m, 24h, 7d; at most
                                         365d) into FILE (default ADMIN_DIR/join-token, mode 0600) and print
                                         the line that joins a node with it; the token itself is never printed
  flowchain token list [--data ADMIN_DIR]
                                         the join tokens made there: id, created, expires, expired or valid
  flowchain credential issue --role device|endpoint|operator|admin [--subject NAME] [--source URI]
                  [--node ID] [--ttl 30d] [--data ADMIN_DIR] [--out FILE]
                                         make a client credential (admin-signed; --out writes it 0600)
  flowchain discover URL                 print the TD URL of every node of the network
  flowchain proof TXID [--url http://127.0.0.1:8080] [--out FILE]
                                         fetch the inclusion proof of a transaction from a node
  flowchain verify-proof FILE [--network ID] [--admin KEY]
                                         check a proof offline: exit 0 if it holds, 1 with the reason if not
  flowchain help

Environment (as in the original flowchain-ledger): HOST, PORT, PEER_ADDR, PEER_PORT.
Ports may be 0 to pick a free one. The join token is read from --token-file FILE, or from
FLOWCHAIN_TOKEN_FILE or FLOWCHAIN_TOKEN; --token TOKEN works too but shows it in the process list.
Join tokens expire (the first node's DATA/join-token after 24 h): make a new one with
\`flowchain token create --data DATA\` on the first node. A node keeps its membership once joined.
Peer links are TLS 1.3; --insecure-peers makes them plain ws:// (tokens, records and blocks in
clear), for benchmarks only, and every member of a network must then use it.`;

type Values = Record<string, string | boolean | undefined>;

function fail(message: string, code = 2): never {
  process.stderr.write(`flowchain: ${message}\n`);
  process.exit(code);
}

function portOption(v: Values, name: string, fallback: number): number {
  const raw = v[name];
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0 || n > 65535) fail(`--${name} must be a port number from 0 to 65535`);
  return n;
}

/** HOST:PORT with an IPv6 host bracketed ([::1]:8000; a bare ::1:8000 is read the same way), or null. */
function peerAddress(s: string): string | null {
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([^\s:[\]]+)|([0-9A-Fa-f:.]+)):(\d{1,5})$/.exec(s);
  if (!m || Number(m[4]) > 65535) return null;
  const v6 = m[1] ?? m[3];
  if (v6 !== undefined) return isIPv6(v6) ? `[${v6}]:${m[4]}` : null;
  return s;
}

/**
 * The command that starts a second node on this machine: every port free (0), a data directory
 * that does not exist yet, the token read from this node's file (never on a process list), and
 * the command this machine runs (npx inside the project, else node and the script's path).
 */
function joinCommand(host: string, addr: string, tokenFile: string): string {
  let n = 2;
  while (existsSync(resolve(`node${n}`))) n++;
  const hostArg = host === "127.0.0.1" ? "" : ` --host ${host}`;
  return (
    `${cliCommand()} start --data ./node${n}${hostArg}` +
    ` --port 0 --http-port 0 --coap-port 0 --ws-port 0 --join ${addr} --token-file ${shellQuote(tokenFile)}`
  );
}

/** How this machine runs this CLI: npx inside the project, else node and the script's path. */
function cliCommand(): string {
  const cli = fileURLToPath(import.meta.url);
  const project = resolve(dirname(cli), "..", "..");
  const inProject = relative(project, process.cwd()).startsWith("..") === false;
  return inProject ? "npx flowchain" : `node ${shellQuote(cli)}`;
}

function httpForm(td: Record<string, unknown>, action: string): string | undefined {
  const actions = td.actions as Record<string, { forms?: { href?: string }[] }> | undefined;
  return actions?.[action]?.forms?.find((f) => f.href?.startsWith("http"))?.href;
}

function shellQuote(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, "'\\''")}'`;
}

/** --insecure-peers, warned about; --peer-tls is the default now and accepted for old scripts. */
function insecurePeers(v: Values): boolean {
  if (v["insecure-peers"] !== true) return false;
  if (v["peer-tls"] === true) fail("--insecure-peers and --peer-tls contradict each other");
  process.stderr.write(
    "flowchain: WARNING --insecure-peers: peer links are plain ws://, tokens, records and blocks " +
      "cross the network in clear (for benchmarks only)\n",
  );
  return true;
}

async function start(v: Values): Promise<void> {
  const level = (v["log-level"] as string | undefined) ?? process.env.FLOWCHAIN_LOG_LEVEL ?? "warn";
  if (!isLogLevel(level)) fail(`--log-level must be one of debug, info, warn, error, silent`);
  const log = createLogger(level as LogLevel);
  const env = process.env;
  const host = (v.host as string | undefined) ?? env.HOST ?? "127.0.0.1";
  const port = portOption(v, "port", env.PORT ? Number(env.PORT) : 8000);
  const join =
    (v.join as string | undefined) ??
    (env.PEER_ADDR ? `${env.PEER_ADDR}:${env.PEER_PORT ?? "8000"}` : undefined);
  const token = await readToken(v, log);
  const peer = join === undefined ? undefined : peerAddress(join);
  if (peer === null) fail("--join must be HOST:PORT (an IPv6 host in brackets: [::1]:8000)");
  const dataDir = resolve((v.data as string | undefined) ?? ".flowchain");
  const tls = await thingTls(v, host);

  const { FlowchainNode } = await import("./node/flowchain-node.js");
  const node = await FlowchainNode.start({
    dataDir,
    host,
    port,
    join: peer,
    token,
    networkName: v.name as string | undefined,
    insecurePeers: insecurePeers(v),
    log,
  });
  let thing:
    | {
        td: Record<string, unknown>;
        tdUrl: string;
        ports: { coap: number; ws: number };
        stop(): Promise<void>;
      }
    | undefined;
  if (!v["no-wot"]) {
    const { startThing } = await import("./wot/thing-server.js");
    try {
      thing = await startThing(node, {
        host,
        httpPort: portOption(v, "http-port", 8080),
        coapPort: portOption(v, "coap-port", 5683),
        wsPort: portOption(v, "ws-port", 8081),
        tls,
        log: log.child({ part: "wot" }),
      });
    } catch (err) {
      await node.stop();
      throw err;
    }
  }

  const lines = [
    `node      ${node.id}`,
    `network   ${node.network.descriptor.name} ${node.networkId}`,
    `data      ${dataDir}`,
    `peer      ${node.addr}`,
  ];
  if (thing) {
    lines.push(
      `td        ${thing.tdUrl}`,
      `coap      coap://${host}:${thing.ports.coap}`,
      `ws        ${tls ? "wss" : "ws"}://${host}:${thing.ports.ws}`,
    );
  }
  // A put that works as printed, the credential read from its file (never printed itself).
  const deviceFile = `${dataDir}/device-credential`;
  const putUrl = thing ? httpForm(thing.td, "put") : undefined;
  if (putUrl !== undefined && existsSync(deviceFile)) {
    // A self-signed certificate is its own CA: curl trusts it when told to.
    const cacert = tls?.selfSigned ? ` --cacert ${shellQuote(tls.certFile)}` : "";
    lines.push(
      `put       curl${cacert} -H "Authorization: Bearer $(cat ${shellQuote(deviceFile)})" -H 'content-type: application/json'` +
        ` -d '{"value": {"celsius": 21.5}, "source": "urn:dev:kitchen"}' ${putUrl}`,
    );
  }
  // The form, never the token itself: stdout ends up in logs and terminals' scrollback.
  lines.push(...(await joinLines(host, node.addr, dataDir, v["insecure-peers"] === true)));
  process.stdout.write(lines.join("\n") + "\nready\n");

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info("shutting down", { signal });
    try {
      await thing?.stop();
    } finally {
      await node.stop();
    }
    process.exit(0);
  };
  process.on("SIGINT", () => void shutdown("SIGINT"));
  process.on("SIGTERM", () => void shutdown("SIGTERM"));
  // A node serves many peers: one failed request must not take the others down with it.
  process.on("unhandledRejection", (err) => log.error("unhandled rejection", { err: errorText(err) }));
}

/** --tls-cert and --tls-key, both or neither, checked before the node touches its data directory. */
async function thingTls(v: Values, host: string) {
  const cert = v["tls-cert"] as string | undefined;
  const key = v["tls-key"] as string | undefined;
  if (cert === undefined && key === undefined) return undefined;
  if (cert === undefined || key === undefined) fail("--tls-cert and --tls-key go together: give both");
  if (v["no-wot"]) fail("--tls-cert and --tls-key are for the Thing's servers, which --no-wot turns off");
  const files = { certFile: resolve(cert), keyFile: resolve(key) };
  const { checkServerTls } = await import("./wot/server-tls.js");
  let selfSigned = false;
  try {
    const { cert } = checkServerTls(files, host);
    selfSigned = cert.issuer === cert.subject;
  } catch (err) {
    fail((err as Error).message);
  }
  return { ...files, selfSigned };
}

/**
 * The join token: from a file (--token-file, FLOWCHAIN_TOKEN_FILE) or the environment
 * (FLOWCHAIN_TOKEN), which no other user can read; --token still works but puts the token in
 * /proc/PID/cmdline, readable by every user of the machine, so it is warned about.
 */
async function readToken(v: Values, log: ReturnType<typeof createLogger>): Promise<string | undefined> {
  const file = (v["token-file"] as string | undefined) ?? process.env.FLOWCHAIN_TOKEN_FILE;
  if (file !== undefined) {
    try {
      return (await readFile(resolve(file), "utf8")).trim();
    } catch (err) {
      fail(`cannot read the join token from ${file}: ${(err as Error).message}`);
    }
  }
  if (typeof v.token === "string") {
    log.warn("--token shows the join token in the process list: use --token-file or FLOWCHAIN_TOKEN");
    return v.token;
  }
  return process.env.FLOWCHAIN_TOKEN;
}

/** A node's data directory keeps its ledger in ledger/; a bare ledger directory works too. */
function ledgerDir(dir: string): string {
  const nested = join(resolve(dir), "ledger");
  return existsSync(nested) ? nested : resolve(dir);
}

async function verify(v: Values): Promise<void> {
  const { verifyDataDir, verifyExportFile } = await import("./ledger/verify.js");
  let report;
  const { isMergedFile, verifyMergedFile } = await import("./ledger/merged-file.js");
  if (typeof v.file === "string" && (await isMergedFile(resolve(v.file)))) {
    const r = await verifyMergedFile(resolve(v.file));
    if (r.ok) {
      process.stdout.write(
        `ok: merged ledger of network ${r.network}, ${r.blocks} blocks and the admin-signed checkpoint verified\n`,
      );
      return;
    }
    process.stdout.write(`FAILED: ${r.what}\n`);
    process.exit(1);
  }
  if (typeof v.file === "string") report = await verifyExportFile(resolve(v.file));
  else if (typeof v.data === "string") report = await verifyDataDir(ledgerDir(v.data));
  else fail("verify needs --data DIR or --file FILE");
  if (report.ok) {
    process.stdout.write(`ok: ${report.blocks} blocks, ${report.records} records verified\n`);
    return;
  }
  const bad = report.firstBad;
  process.stdout.write(`FAILED at height ${bad?.height ?? "?"}: ${bad?.what ?? "unknown"}\n`);
  process.exit(1);
}

async function inventoryCmd(v: Values): Promise<void> {
  const { inventoryFromDataDir } = await import("./node/inventory-tool.js");
  const { mergedLines } = await import("./ledger/merged-file.js");
  const dataDir = resolve((v.data as string | undefined) ?? ".flowchain");
  const progress = (e: { phase: string; done: number; total: number; peer?: string }) =>
    process.stderr.write(
      `${e.phase.padEnd(10)} ${e.done}/${e.total}${e.peer ? ` ${e.peer.slice(0, 12)}` : ""}\n`,
    );
  const { desc, result, merged, checkpoint } = await inventoryFromDataDir(
    dataDir,
    v.via as string | undefined,
    progress,
    insecurePeers(v),
  );
  const out = typeof v.out === "string" ? createWriteStream(resolve(v.out)) : process.stdout;
  for (const line of mergedLines(desc, checkpoint, merged)) out.write(line);
  if (out !== process.stdout)
    await new Promise<void>((r) => (out as ReturnType<typeof createWriteStream>).end(r));
  process.stderr.write(
    `merged ${merged.blocks.length} blocks from ${result.branches.length} branches; ` +
      `${result.invalidBlocks.length} invalid blocks left out; unreachable: ${result.unreachable.length}; checkpoint root ${checkpoint.root}\n`,
  );
}

async function memberCmd(v: Values, args: string[]): Promise<void> {
  const [action, id] = args;
  if (action !== "remove" || !id) fail(`member takes: remove ID\n${USAGE}`);
  const { removeMember } = await import("./node/inventory-tool.js");
  const dataDir = resolve((v.data as string | undefined) ?? ".flowchain");
  await removeMember(dataDir, v.via as string | undefined, id, insecurePeers(v));
  process.stdout.write(`removed ${id}: the revocation is spreading through the ring\n`);
}

// ---- flowchain token: join tokens (src/node/join-tokens.ts) ----

/**
 * What a start prints about joining: the line that joins a node with DATA/join-token while it is
 * valid, or the command that makes a new one once it has expired. Nothing on a member's node.
 */
async function joinLines(host: string, addr: string, dataDir: string, plain: boolean): Promise<string[]> {
  const { joinTokenState } = await import("./node/join-tokens.js");
  const state = await joinTokenState(dataDir);
  if (!state) return [];
  if (state.expired) {
    return [
      `join      the join token has expired: ${cliCommand()} token create --data ${shellQuote(dataDir)}`,
    ];
  }
  return [
    `join      ${joinCommand(host, addr, state.file)}${plain ? " --insecure-peers" : ""}`,
    `expires   ${new Date(state.expires).toISOString()} (then: ${cliCommand()} token create --data ${shellQuote(dataDir)})`,
  ];
}

async function tokenCmd(v: Values, args: string[]): Promise<void> {
  const [action] = args;
  const dataDir = resolve((v.data as string | undefined) ?? ".flowchain");
  const tokens = await import("./node/join-tokens.js");
  if (action === "list") {
    process.stdout.write(await tokens.tokenTable(dataDir));
    return;
  }
  if (action !== "create") fail(`token takes: create or list\n${USAGE}`);
  let ttlMs = tokens.DEFAULT_JOIN_TTL_MS;
  if (v.ttl !== undefined) {
    try {
      ttlMs = tokens.parseJoinTtl(v.ttl as string);
    } catch (err) {
      fail(`${(err as Error).message}\n${USAGE}`);
    }
  }
  const made = await tokens.createTokenFile(dataDir, {
    ttlMs,
    out: typeof v.out === "string" ? resolve(v.out) : undefined,
  });
  // The first node's address, as it last started; the new node may join through any member.
  const addr = (await readFile(join(dataDir, "node-addr"), "utf8").catch(() => "")).trim();
  const lines = [
    `token     ${made.id} written to ${made.file} (mode 0600)`,
    `expires   ${new Date(made.expires).toISOString()}`,
  ];
  if (addr) {
    const host = addr.replace(/:\d+$/, "").replace(/^\[(.*)\]$/, "$1");
    lines.push(
      `join      ${joinCommand(host, addr, made.file)}${v["insecure-peers"] === true ? " --insecure-peers" : ""}`,
    );
  } else {
    lines.push(
      `join      start the first node once, then add: --join ITS_PEER_ADDRESS --token-file ${shellQuote(made.file)}`,
    );
  }
  process.stdout.write(lines.join("\n") + "\n");
}

async function credentialCmd(v: Values, args: string[]): Promise<void> {
  if (args[0] !== "issue") fail(`credential takes: issue --role ROLE\n${USAGE}`);
  const { issueFromDataDir } = await import("./node/credential-tool.js");
  const credential = await issueFromDataDir(resolve((v.data as string | undefined) ?? ".flowchain"), {
    role: v.role as string | undefined,
    subject: v.subject as string | undefined,
    source: v.source as string | undefined,
    node: v.node as string | undefined,
    ttl: v.ttl as string | undefined,
  });
  if (typeof v.out === "string") {
    await writeFile(resolve(v.out), credential + "\n", { mode: 0o600 });
    process.stdout.write(
      `credential written to ${v.out}: send it as 'Authorization: Bearer $(cat ${v.out})'\n`,
    );
  } else {
    process.stdout.write(credential + "\n");
  }
}

async function exportCmd(v: Values): Promise<void> {
  if (typeof v.data !== "string") fail("export needs --data DIR");
  const { exportDataDir } = await import("./ledger/export.js");
  await exportDataDir(ledgerDir(v.data), process.stdout);
}

async function discoverCmd(url: string | undefined): Promise<void> {
  if (!url) fail("discover needs a URL, e.g. http://127.0.0.1:8080");
  const { discover } = await import("./wot/discover.js");
  for (const n of await discover(url)) process.stdout.write(`${n.tdUrl}\n`);
}

async function proofCmd(v: Values, txID: string | undefined): Promise<void> {
  if (!txID || !/^[0-9a-f]{64}$/.test(txID)) fail("proof needs a TXID (64 lowercase hex characters)");
  const { fetchProof } = await import("./wot/fetch-proof.js");
  const { checkProof } = await import("./node/proofs.js");
  const proof = await fetchProof((v.url as string | undefined) ?? "http://127.0.0.1:8080", txID);
  const text = JSON.stringify(proof, null, 2) + "\n";
  if (typeof v.out === "string") await writeFile(resolve(v.out), text);
  else process.stdout.write(text);
  // Fetched from a node that may lie: say at once whether it holds.
  const r = checkProof(proof);
  process.stderr.write(r.ok ? `proof holds (anchored by ${r.anchor})\n` : `proof FAILS: ${r.reason}\n`);
  if (!r.ok) process.exit(1);
}

async function verifyProofCmd(v: Values, file: string | undefined): Promise<void> {
  if (!file) fail("verify-proof needs a FILE");
  let proof: unknown;
  try {
    proof = JSON.parse(await readFile(resolve(file), "utf8"));
  } catch (err) {
    process.stdout.write(`FAILED: shape: ${file} is not a JSON file: ${(err as Error).message}\n`);
    process.exit(1);
  }
  const { checkProof } = await import("./node/proofs.js");
  const r = checkProof(proof, {
    networkId: v.network as string | undefined,
    adminPublicKey: v.admin as string | undefined,
  });
  for (const s of r.steps)
    process.stdout.write(`${s.ok ? "ok  " : "FAIL"} ${s.step.padEnd(10)} ${s.detail}\n`);
  if (!r.ok) {
    process.stdout.write(`FAILED: ${r.reason}\n`);
    process.exit(1);
  }
  process.stdout.write(
    `ok: transaction ${r.txID} of miner ${r.miner} is in network ${r.networkId}, anchored by ${r.anchor}\n`,
  );
}

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  let parsed;
  try {
    parsed = parseArgs({
      args: rest,
      allowPositionals: true,
      options: {
        data: { type: "string" },
        file: { type: "string" },
        host: { type: "string" },
        port: { type: "string" },
        join: { type: "string" },
        token: { type: "string" },
        "token-file": { type: "string" },
        name: { type: "string" },
        "http-port": { type: "string" },
        "coap-port": { type: "string" },
        "ws-port": { type: "string" },
        "log-level": { type: "string" },
        "no-wot": { type: "boolean" },
        "peer-tls": { type: "boolean" },
        "tls-cert": { type: "string" },
        "tls-key": { type: "string" },
        "insecure-peers": { type: "boolean" },
        via: { type: "string" },
        out: { type: "string" },
        url: { type: "string" },
        network: { type: "string" },
        admin: { type: "string" },
        role: { type: "string" },
        subject: { type: "string" },
        source: { type: "string" },
        node: { type: "string" },
        ttl: { type: "string" },
      },
    });
  } catch (err) {
    fail(`${(err as Error).message}\n${USAGE}`);
  }
  const v = parsed.values as Values;
  switch (command) {
    case "start":
      return start(v);
    case "verify":
      return verify(v);
    case "export":
      return exportCmd(v);
    case "inventory":
      return inventoryCmd(v);
    case "discover":
      return discoverCmd(parsed.positionals[0]);
    case "member":
      return memberCmd(v, parsed.positionals);
    case "token":
      return tokenCmd(v, parsed.positionals);
    case "credential":
      return credentialCmd(v, parsed.positionals);
    case "proof":
      return proofCmd(v, parsed.positionals[0]);
    case "verify-proof":
      return verifyProofCmd(v, parsed.positionals[0]);
    case "help":
    case "--help":
    case "-h":
    case undefined:
      process.stdout.write(USAGE + "\n");
      return;
    default:
      fail(`unknown command '${command}'\n${USAGE}`);
  }
}

main(process.argv.slice(2)).catch((err: unknown) => {
  const e = err as { code?: string; message?: string };
  fail(`${e.message ?? String(err)}${e.code ? ` (${e.code})` : ""}`, 1);
});
