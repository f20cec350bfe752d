// Ring simulation over MemoryNetwork: the same ChordNode code as production, N nodes in one process.
// Measures lookup hops on a converged ring, then crash-stops 25% of the nodes at once and counts
// maintenance rounds (every live node ticks once, concurrently) until successors and successor
// lists are right again, while lookups keep running against the damaged ring.
// runSplitHeal partitions a converged ring into two random halves, lets each repair into a ring of
// its own, heals the partition and counts rounds and messages until there is one ring again.
//   node dist/bench/sim.js --nodes 1024 [--lookups 10000] [--seed 1] [--json] [--split] [--probe-every 4]
import { pathToFileURL } from "node:url";
import { toBig } from "../src/chord/id.js";
import { MemoryNetwork } from "../src/chord/memory-transport.js";
import { seededRandom as rng } from "../src/chord/prng.js";
import { ChordNode } from "../src/chord/node.js";
import { sha256Hex } from "../src/util/hash.js";

export interface SimResult {
  nodes: number;
  meanHops: number;
  p99Hops: number;
  wrongOwners: number;
  failedLookups: number;
  buildRounds: number;
  repairRoundsSuccessors: number;
  repairRoundsLists: number;
  lookupsDuringRepair: number;
  lookupsCorrectDuringRepair: number;
  messagesPerLookup: number;
  buildMs: number;
  totalMs: number;
}

export interface SimOptions {
  lookups?: number;
  seed?: number;
  successorListLength?: number;
  killFraction?: number;
  /** ChordNode's probeEvery: mean rounds between ring-merge probes. */
  probeEvery?: number;
}

/** The truth every node's view is checked against: live ids sorted on the circle. */
class Oracle {
  ids: string[] = [];
  private big: bigint[] = [];
  private index = new Map<string, number>();
  constructor(ids: Iterable<string>) {
    this.ids = [...ids].sort();
    this.big = this.ids.map(toBig);
    this.ids.forEach((id, i) => this.index.set(id, i));
  }
  owner(key: string): string {
    const k = toBig(key);
    let lo = 0;
    let hi = this.big.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.big[mid] < k) lo = mid + 1;
      else hi = mid;
    }
    return this.ids[lo % this.ids.length];
  }
  next(id: string, k: number): string {
    return this.ids[(this.index.get(id)! + k) % this.ids.length];
  }
  prev(id: string): string {
    const n = this.ids.length;
    return this.ids[(this.index.get(id)! - 1 + n) % n];
  }
}

function successorsRight(nodes: ChordNode[], o: Oracle): boolean {
  return nodes.every((n) => n.successor().id === o.next(n.self.id, 1));
}

function listsRight(nodes: ChordNode[], o: Oracle, r: number): boolean {
  const want = Math.min(r, o.ids.length - 1);
  return nodes.every((n) => {
    const l = n.rawSuccessorList();
    if (l.length !== want) return false;
    return l.every((p, i) => p.id === o.next(n.self.id, i + 1));
  });
}

function predecessorsRight(nodes: ChordNode[], o: Oracle): boolean {
  return nodes.every((n) => n.predecessor()?.id === o.prev(n.self.id));
}

function randomKey(rand: () => number): string {
  return sha256Hex(String(rand()) + String(rand()));
}

async function round(nodes: ChordNode[]): Promise<void> {
  await Promise.all(nodes.map((n) => n.tick()));
}

interface BuiltRing {
  net: MemoryNetwork;
  nodes: ChordNode[];
  rand: () => number;
  r: number;
  buildRounds: number;
  t0: number;
}

/**
 * Build: sequential joins through a random member. After each join the newcomer stabilizes
 * (rectifying its successor) and so does its ring predecessor, which is how periodic maintenance
 * would settle a lone join; a full round at every doubling keeps fingers useful so join lookups
 * stay short. Then plain rounds until the ring is fully converged.
 */
async function buildRing(nodeCount: number, opts: SimOptions): Promise<BuiltRing> {
  const t0 = Date.now();
  const rand = rng(opts.seed ?? 1);
  const r = opts.successorListLength ?? 8;
  const net = new MemoryNetwork();
  const nodes: ChordNode[] = [];
  for (let i = 0; i < nodeCount; i++) {
    const id = sha256Hex(`sim-node-${opts.seed ?? 1}-${i}`);
    const node = new ChordNode({
      self: { id, addr: `mem:${i}` },
      transport: net.transport(id),
      successorListLength: r,
      probeEvery: opts.probeEvery,
    });
    net.register(node);
    nodes.push(node);
  }
  nodes[0].create();
  const joined: ChordNode[] = [nodes[0]];
  const byId = new Map(nodes.map((n) => [n.self.id, n]));
  let nextRound = 2;
  let buildRounds = 0;
  for (let i = 1; i < nodeCount; i++) {
    const via = joined[Math.floor(rand() * joined.length)];
    await nodes[i].join(via.self);
    joined.push(nodes[i]);
    const succ = byId.get(nodes[i].successor().id);
    const oldPred = succ?.predecessor();
    await nodes[i].stabilize();
    if (oldPred && oldPred.id !== nodes[i].self.id) await byId.get(oldPred.id)?.stabilize();
    if (joined.length === nextRound) {
      await round(joined);
      nextRound *= 2;
    }
  }
  const oracle = new Oracle(nodes.map((n) => n.self.id));
  for (; buildRounds < 4 * r + 20; buildRounds++) {
    if (process.env.SIM_DEBUG)
      console.error(
        buildRounds,
        successorsRight(nodes, oracle),
        predecessorsRight(nodes, oracle),
        listsRight(nodes, oracle, r),
        Date.now() - t0,
        net.messages,
      );
    if (successorsRight(nodes, oracle) && predecessorsRight(nodes, oracle) && listsRight(nodes, oracle, r))
      break;
    // Settling the neighbour pointers needs no fingers; fixing them once at the end is enough.
    await Promise.all(
      nodes.map(async (n) => {
        await n.checkPredecessor();
        await n.stabilize();
      }),
    );
  }
  // One more round so every finger reflects the final membership.
  await round(nodes);
  buildRounds++;
  if (!successorsRight(nodes, oracle) || !listsRight(nodes, oracle, r))
    throw new Error("sim: ring did not converge");

  return { net, nodes, rand, r, buildRounds, t0 };
}

export async function runSim(nodeCount: number, opts: SimOptions = {}): Promise<SimResult> {
  const { net, nodes, rand, r, buildRounds, t0 } = await buildRing(nodeCount, opts);
  const lookups = opts.lookups ?? 10_000;
  let oracle = new Oracle(nodes.map((n) => n.self.id));
  const buildMs = Date.now() - t0;

  // Lookups on the converged ring.
  const hops: number[] = [];
  let wrongOwners = 0;
  let failedLookups = 0;
  const msgBefore = net.messages;
  for (let i = 0; i < lookups; i++) {
    const from = nodes[Math.floor(rand() * nodes.length)];
    const key = randomKey(rand);
    try {
      const res = await from.lookup(key);
      hops.push(res.hops);
      if (res.owner.id !== oracle.owner(key)) wrongOwners++;
    } catch {
      failedLookups++;
    }
  }
  const messagesPerLookup = (net.messages - msgBefore) / lookups;
  hops.sort((a, b) => a - b);
  const meanHops = hops.reduce((a, b) => a + b, 0) / Math.max(1, hops.length);
  const p99Hops = hops[Math.min(hops.length - 1, Math.floor(hops.length * 0.99))] ?? 0;

  // Crash 25% at once, then repair round by round with lookups interleaved.
  const killCount = Math.floor(nodeCount * (opts.killFraction ?? 0.25));
  const order = nodes.map((n, i) => ({ n, k: rand(), i })).sort((a, b) => a.k - b.k);
  for (const { n } of order.slice(0, killCount)) net.kill(n.self.id);
  const live = nodes.filter((n) => net.isAlive(n.self.id));
  oracle = new Oracle(live.map((n) => n.self.id));
  const perRound = Math.max(1000, live.length);
  let repairRoundsSuccessors = -1;
  let repairRoundsLists = -1;
  let repairLookups = 0;
  let repairCorrect = 0;
  const lookupOnce = async () => {
    const from = live[Math.floor(rand() * live.length)];
    const key = randomKey(rand);
    repairLookups++;
    try {
      const res = await from.lookup(key);
      if (res.owner.id === oracle.owner(key)) repairCorrect++;
    } catch {
      // counted as incorrect
    }
  };
  const maxRounds = 4 * r + 20;
  for (let k = 1; k <= maxRounds; k++) {
    // Lookups run concurrently with the round's maintenance, as they would on a live network.
    const ticks = live.map((n) => n.tick());
    const ls: Promise<void>[] = [];
    for (let i = 0; i < perRound; i++) ls.push(lookupOnce());
    await Promise.all([...ticks, ...ls]);
    if (repairRoundsSuccessors < 0 && successorsRight(live, oracle)) repairRoundsSuccessors = k;
    if (repairRoundsLists < 0 && listsRight(live, oracle, r)) repairRoundsLists = k;
    if (repairRoundsSuccessors > 0 && repairRoundsLists > 0) break;
  }
  return {
    nodes: nodeCount,
    meanHops,
    p99Hops,
    wrongOwners,
    failedLookups,
    buildRounds,
    repairRoundsSuccessors,
    repairRoundsLists,
    lookupsDuringRepair: repairLookups,
    lookupsCorrectDuringRepair: repairLookups === 0 ? 1 : repairCorrect / repairLookups,
    messagesPerLookup,
    buildMs,
    totalMs: Date.now() - t0,
  };
}

export interface SplitHealResult {
  nodes: number;
  /** Maintenance messages per node per round on the whole, converged ring (probes included). */
  steadyMessagesPerNodeRound: number;
  /** Rounds after the split until each half is a correct ring of its own. */
  splitRoundsToTwoRings: number;
  /** Rounds the partition lasted in all. */
  partitionRounds: number;
  /** Rounds after the heal until every successor is right again (one ring). */
  healRoundsSuccessors: number;
  /** Rounds after the heal until successors, predecessors and successor lists are all right. */
  healRoundsOneRing: number;
  /** Messages (all ring RPCs) from the heal until healRoundsOneRing. */
  healMessages: number;
  healMessagesPerNode: number;
  /** Lookups after the merge that returned the wrong owner (of `lookups`). */
  wrongOwnersAfterHeal: number;
  totalMs: number;
}

function ringRight(nodes: ChordNode[], r: number): boolean {
  const o = new Oracle(nodes.map((n) => n.self.id));
  return successorsRight(nodes, o) && predecessorsRight(nodes, o) && listsRight(nodes, o, r);
}

/**
 * Split and heal: a converged ring is cut into two random halves (a network partition, not a
 * split by id), each half repairs into a ring of its own and runs like that for `partitionRounds`
 * in all; then the partition heals and we count rounds (every node ticks once) and messages
 * until the two rings are one correct ring again.
 */
export async function runSplitHeal(
  nodeCount: number,
  opts: SimOptions & { partitionRounds?: number; splitFraction?: number } = {},
): Promise<SplitHealResult> {
  const { net, nodes, rand, r, t0 } = await buildRing(nodeCount, opts);
  const steadyRounds = 8;
  const m0 = net.messages;
  for (let k = 0; k < steadyRounds; k++) await round(nodes);
  const steadyMessagesPerNodeRound = (net.messages - m0) / steadyRounds / nodeCount;

  const shuffled = nodes
    .map((n) => ({ n, k: rand() }))
    .sort((a, b) => a.k - b.k)
    .map((x) => x.n);
  const cut = Math.round(nodeCount * (opts.splitFraction ?? 0.5));
  const sides = [shuffled.slice(0, cut), shuffled.slice(cut)];
  net.partition(...sides.map((side) => side.map((n) => n.self.id)));
  const partitionRounds = opts.partitionRounds ?? 60;
  const maxRounds = 4 * r + 60;
  let splitRoundsToTwoRings = -1;
  for (let k = 1; k <= Math.max(partitionRounds, maxRounds); k++) {
    await round(nodes);
    if (splitRoundsToTwoRings < 0 && sides.every((side) => ringRight(side, r))) splitRoundsToTwoRings = k;
    if (k >= partitionRounds && splitRoundsToTwoRings > 0) break;
  }

  net.heal();
  const oracle = new Oracle(nodes.map((n) => n.self.id));
  const m1 = net.messages;
  let healRoundsSuccessors = -1;
  let healRoundsOneRing = -1;
  let healMessages = -1;
  for (let k = 1; k <= maxRounds && healRoundsOneRing < 0; k++) {
    await round(nodes);
    if (healRoundsSuccessors < 0 && successorsRight(nodes, oracle)) healRoundsSuccessors = k;
    if (ringRight(nodes, r)) {
      healRoundsOneRing = k;
      healMessages = net.messages - m1;
    }
  }
  const lookups = Math.min(opts.lookups ?? 2000, 2000);
  let wrongOwnersAfterHeal = 0;
  for (let i = 0; i < lookups; i++) {
    const from = nodes[Math.floor(rand() * nodes.length)];
    const key = randomKey(rand);
    try {
      if ((await from.lookup(key)).owner.id !== oracle.owner(key)) wrongOwnersAfterHeal++;
    } catch {
      wrongOwnersAfterHeal++;
    }
  }
  return {
    nodes: nodeCount,
    steadyMessagesPerNodeRound,
    splitRoundsToTwoRings,
    partitionRounds,
    healRoundsSuccessors,
    healRoundsOneRing,
    healMessages,
    healMessagesPerNode: healMessages / nodeCount,
    wrongOwnersAfterHeal,
    totalMs: Date.now() - t0,
  };
}

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

async function main(): Promise<void> {
  const n = Number(arg("nodes") ?? "64");
  if (!Number.isInteger(n) || n < 2) throw new Error("--nodes must be an integer >= 2");
  const lookups = Number(arg("lookups") ?? "10000");
  const seed = Number(arg("seed") ?? "1");
  const probeEvery = arg("probe-every") === undefined ? undefined : Number(arg("probe-every"));
  if (process.argv.includes("--split")) {
    const res = await runSplitHeal(n, { seed, probeEvery });
    console.log(JSON.stringify(res, null, process.argv.includes("--json") ? 0 : 2));
    return;
  }
  const res = await runSim(n, { lookups, seed, probeEvery });
  if (process.argv.includes("--json")) {
    const { nodes, meanHops, p99Hops, wrongOwners, repairRoundsSuccessors, repairRoundsLists } = res;
    console.log(
      JSON.stringify({
        nodes,
        meanHops,
        p99Hops,
        wrongOwners,
        repairRoundsSuccessors,
        repairRoundsLists,
        lookupsCorrectDuringRepair: res.lookupsCorrectDuringRepair,
      }),
    );
  } else {
    console.log(`nodes                          ${res.nodes}`);
    console.log(`mean hops                      ${res.meanHops.toFixed(3)}`);
    console.log(`p99 hops                       ${res.p99Hops}`);
    console.log(`wrong owners                   ${res.wrongOwners}`);
    console.log(`failed lookups                 ${res.failedLookups}`);
    console.log(`messages per lookup            ${res.messagesPerLookup.toFixed(2)}`);
    console.log(`build rounds (after joins)     ${res.buildRounds}`);
    console.log(`repair rounds: successors      ${res.repairRoundsSuccessors}`);
    console.log(`repair rounds: lists           ${res.repairRoundsLists}`);
    console.log(`lookups during repair          ${res.lookupsDuringRepair}`);
    console.log(`correct during repair          ${(res.lookupsCorrectDuringRepair * 100).toFixed(3)}%`);
    console.log(`build / total ms               ${res.buildMs} / ${res.totalMs}`);
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  main().catch((err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  });
}
