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
  flowchain verify (--data DIR | --file EXPORT.ndjson)
  flowchain export --data DIR            write blocks and records as NDJSON to stdout
  flowchain inventory [--data ADMIN_DIR] [--via HOST:PORT] [--out FILE] [--insecure-peers]
                                         merge every branch, sign and store a checkpoint (admin only)
  flowchain member remove ID [--data ADMIN_DIR] [--via HOST:PORT] [--insecure-peers]
                                         remove a member: an admin-signed revocation spreads through the ring
  flowchain discover URL                 print the TD URL of every node of the network
  flowchain proof TXID [--url http://127.0.0.1:8080] [--out FILE]
                                         fetch the inclusion proof of a transaction from a node
  flowchain verify-proof FILE [--network ID] [--admin KEY]
                                         check a proof offline: exit 0 if it holds, 1 with the reason if not
  flowchain help

Environment (as in the original flowchain-ledger): HOST, PORT, PEER_ADDR, PEER_PORT.
Ports may be 0 to pick a free one. The join token is read from --token-file FILE, or from
FLOWCHAIN_TOKEN_FILE or FLOWCHAIN_TOKEN; --token TOKEN works too but shows it in the process list.
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
function joinCommand(host: string, addr: string, dataDir: string): string {
  let n = 2;
  while (existsSync(resolve(`node${n}`))) n++;
  const cli = fileURLToPath(import.meta.url);
  const project = resolve(dirname(cli), "..", "..");
  const inProject = relative(project, process.cwd()).startsWith("..") === false;
  const run = inProject ? "npx flowchain" : `node ${shellQuote(cli)}`;
  const tokenFile = shellQuote(join(dataDir, "join-token"));
  const hostArg = host === "127.0.0.1" ? "" : ` --host ${host}`;
  return (
    `${run} start --data ./node${n}${hostArg}` +
    ` --port 0 --http-port 0 --coap-port 0 --ws-port 0 --join ${addr} --token-file ${tokenFile}`
  );
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
  let thing: { tdUrl: string; ports: { coap: number; ws: number }; stop(): Promise<void> } | undefined;
  if (!v["no-wot"]) {
    const { startThing } = await import("./wot/thing-server.js");
    try {
      thing = await startThing(node, {
        host,
        httpPort: portOption(v, "http-port", 8080),
        coapPort: portOption(v, "coap-port", 5683),
        wsPort: portOption(v, "ws-port", 8081),
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
      `ws        ws://${host}:${thing.ports.ws}`,
    );
  }
  // The form, never the token itself: stdout ends up in logs and terminals' scrollback.
  if (await node.joinToken()) {
    const plain = v["insecure-peers"] === true ? " --insecure-peers" : "";
    lines.push(`join      ${joinCommand(host, node.addr, dataDir)}${plain}`);
  }
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
        "insecure-peers": { type: "boolean" },
        via: { type: "string" },
        out: { type: "string" },
        url: { type: "string" },
        network: { type: "string" },
        admin: { type: "string" },
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
