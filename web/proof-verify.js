// Inclusion proof verification in the page, from the README's "Inclusion proofs" section: SHA-256
// and Ed25519 from WebCrypto, RFC 8785 canonical JSON written out below. No dependency, no build
// step; the same file runs in Node 20 (its tests) and in the browser.
const subtle = globalThis.crypto.subtle;
const HEX64 = /^[0-9a-f]{64}$/;
const enc = new TextEncoder();

/** RFC 8785: sorted keys (UTF-16 code units, as Array#sort compares), no whitespace, ES numbers. */
export function canonical(v) {
  if (v === null || typeof v !== "object") {
    if (typeof v === "number" && !Number.isFinite(v)) throw new Error("not JSON: non-finite number");
    return JSON.stringify(v);
  }
  if (Array.isArray(v)) return "[" + v.map(canonical).join(",") + "]";
  const keys = Object.keys(v)
    .filter((k) => v[k] !== undefined)
    .sort();
  return "{" + keys.map((k) => JSON.stringify(k) + ":" + canonical(v[k])).join(",") + "}";
}

export const hexToBytes = (h) => Uint8Array.from(h.match(/../g) ?? [], (b) => parseInt(b, 16));
export const bytesToHex = (b) =>
  Array.from(new Uint8Array(b), (x) => x.toString(16).padStart(2, "0")).join("");
const utf8 = (s) => enc.encode(s);
const concat = (...parts) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
};
const sha = async (bytes) => new Uint8Array(await subtle.digest("SHA-256", bytes));
const shaHex = async (bytes) => bytesToHex(await sha(bytes));
const dsha = async (bytes) => bytesToHex(await sha(await sha(bytes)));

async function ed25519(keyHex, message, sigBytes) {
  try {
    const key = await subtle.importKey("raw", hexToBytes(keyHex), { name: "Ed25519" }, false, ["verify"]);
    return await subtle.verify({ name: "Ed25519" }, key, sigBytes, message);
  } catch {
    return false;
  }
}

function hashers(v) {
  if (v === 2) {
    return {
      leaf: async (x) => shaHex(concat(Uint8Array.of(0), hexToBytes(x))),
      node: async (l, r) => shaHex(concat(Uint8Array.of(1), hexToBytes(l), hexToBytes(r))),
      empty: async () => shaHex(new Uint8Array(0)),
    };
  }
  return { leaf: async (x) => x, node: async (l, r) => dsha(utf8(l + r)), empty: async () => "0".repeat(64) };
}

async function pathRoot(leaf, i, n, path, v) {
  const h = hashers(v);
  if (!Number.isSafeInteger(i) || !Number.isSafeInteger(n) || i < 0 || i >= n) return null;
  if (!Array.isArray(path) || path.length > 64 || !path.every((p) => typeof p === "string" && HEX64.test(p)))
    return null;
  let fn = i;
  let sn = n - 1;
  let r = await h.leaf(leaf);
  for (const p of path) {
    if (sn === 0) return null;
    if (fn % 2 === 1 || fn === sn) {
      r = await h.node(p, r);
      while (fn % 2 === 0 && fn !== 0) {
        fn = Math.floor(fn / 2);
        sn = Math.floor(sn / 2);
      }
    } else r = await h.node(r, p);
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 ? r : null;
}

async function treeHash(leaves, v) {
  const h = hashers(v);
  const rec = async (d) => {
    if (d.length === 1) return h.leaf(d[0]);
    let k = 1;
    while (k * 2 < d.length) k *= 2;
    return h.node(await rec(d.slice(0, k)), await rec(d.slice(k)));
  };
  return leaves.length === 0 ? h.empty() : rec(leaves);
}

class Fail extends Error {
  constructor(step, why) {
    super(why);
    this.step = step;
  }
}
const need = (ok, step, why) => {
  if (!ok) throw new Fail(step, why);
};

async function checkBlock(b, step, at) {
  need(b && typeof b === "object" && b["@type"] === "Block", step, `${at} is not a block`);
  const ints = ["height", "nonce", "timestamp"].every((f) => Number.isSafeInteger(b[f]) && b[f] >= 0);
  need(ints && b.height >= 1, step, `${at}: bad height, nonce or timestamp`);
  for (const f of ["prev", "miner", "target", "sealedRoot", "hash", "minerKey"])
    need(typeof b[f] === "string" && HEX64.test(b[f]), step, `${at}: bad ${f}`);
  need(!("network" in b), step, `${at}: only genesis names a network`);
  need(b.merkle === undefined || b.merkle === 2, step, `${at}: unknown merkle version`);
  const header = {
    height: b.height,
    prev: b.prev,
    timestamp: b.timestamp,
    miner: b.miner,
    target: b.target,
    nonce: b.nonce,
    sealedRoot: b.sealedRoot,
  };
  if (b.merkle !== undefined) header.merkle = b.merkle;
  need((await dsha(utf8(canonical(header)))) === b.hash, step, `${at}: hash does not match header`);
  need(BigInt("0x" + b.hash) <= BigInt("0x" + b.target), step, `${at}: hash above target`);
  need((await shaHex(hexToBytes(b.minerKey))) === b.miner, step, `${at}: miner is not sha256(minerKey)`);
  const sigOk = typeof b.signature === "string" && /^[0-9a-f]{128}$/.test(b.signature);
  need(
    sigOk && (await ed25519(b.minerKey, utf8(b.hash), hexToBytes(b.signature))),
    step,
    `${at}: bad block signature`,
  );
}

function base64urlToBytes(s) {
  const b64 = s.replace(/-/g, "+").replace(/_/g, "/") + "=".repeat((4 - (s.length % 4)) % 4);
  return Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
}
function bytesToBase64url(b) {
  return btoa(String.fromCharCode(...b))
    .replace(/\+/g, "-")
    .replace(/\//g, "_")
    .replace(/=+$/, "");
}

/**
 * Checks a proof; resolves to {ok, steps: [{step, ok, detail}], reason?, anchor?}. Each README step
 * in order, stopping at the first failure.
 */
/** The context records name (README step 2): the one nodes serve, or the legacy URL of older ones. */
const RECORD_CONTEXTS = ["/contexts/ledger-v1.jsonld", "https://flowchain.io/ns/ledger/v1"];

export async function verifyProof(p) {
  const steps = [];
  const pass = (step, detail) => steps.push({ step, ok: true, detail });
  try {
    need(
      p && typeof p === "object" && p["@type"] === "InclusionProof" && p.version === 1,
      "shape",
      "not an InclusionProof of version 1",
    );
    const { network: N, record: R, merkle: M, blocks: B, membership: T, checkpoint: CP } = p;
    need(N && R && M && Array.isArray(B), "shape", "network, record, merkle or blocks missing");

    need(typeof N.name === "string" && N.name.length >= 1 && N.name.length <= 128, "network", "bad name");
    need(typeof N.adminPublicKey === "string" && HEX64.test(N.adminPublicKey), "network", "bad admin key");
    const genesis = {
      height: 0,
      miner: await shaHex(hexToBytes(N.adminPublicKey)),
      network: { adminPublicKey: N.adminPublicKey, name: N.name },
      nonce: 0,
      prev: "0".repeat(64),
      sealedRoot: "0".repeat(64),
      target: "f".repeat(64),
      timestamp: 0,
    };
    const networkId = await dsha(utf8(canonical(genesis)));
    pass("network", `network ${networkId} ("${N.name}")`);

    need(
      RECORD_CONTEXTS.includes(R["@context"]) && R["@type"] === "Transaction",
      "record",
      "not a Transaction",
    );
    for (const f of ["txID", "key", "block", "miner", "minerKey"])
      need(typeof R[f] === "string" && HEX64.test(R[f]), "record", `bad ${f}`);
    need(
      Number.isSafeInteger(R.height) && R.height >= 1 && Number.isSafeInteger(R.index) && R.index >= 0,
      "record",
      "bad height or index",
    );
    const chunk = canonical({ source: R.source, timestamp: R.timestamp, value: R.value });
    need((await dsha(utf8(chunk))) === R.key, "record", "key does not match chunk");
    need((await dsha(utf8(R.block + R.key))) === R.txID, "record", "txID does not match block and key");
    need((await shaHex(hexToBytes(R.minerKey))) === R.miner, "record", "miner is not sha256(minerKey)");
    const { signature, ...unsigned } = R;
    const sigOk = typeof signature === "string" && /^[0-9a-f]{128}$/.test(signature);
    need(
      sigOk && (await ed25519(R.minerKey, utf8(canonical(unsigned)), hexToBytes(signature))),
      "record",
      "bad record signature",
    );
    pass("record", `txID ${R.txID} signed by ${R.miner}`);

    need(B.length >= 1 && B.length <= 258, "block", "the record's block is missing");
    await checkBlock(B[0], "block", "the record's block");
    need(B[0].hash === R.block && B[0].height === R.height, "block", "is not the block the record names");
    need(B[0].miner === R.miner && B[0].minerKey === R.minerKey, "block", "not mined by the record's miner");
    pass("block", `block ${B[0].height} signed by the miner`);
    for (let m = 1; m < B.length; m++) {
      await checkBlock(B[m], "chain", `block ${m} of the chain`);
      need(
        B[m].prev === B[m - 1].hash && B[m].height === B[m - 1].height + 1,
        "chain",
        `block ${m} does not follow ${m - 1}`,
      );
      need(
        B[m].miner === B[0].miner && B[m].minerKey === B[0].minerKey,
        "chain",
        `block ${m} is another miner's`,
      );
    }
    if (B.length > 1) pass("chain", `${B.length - 1} signed header(s) after the record's block`);

    need(B.length >= 2, "seal", "no block seals the record's block");
    need(M.index === R.index, "seal", "index differs from the record's");
    const root = await pathRoot(R.txID, M.index, M.size, M.path, B[1].merkle ?? 1);
    need(root !== null, "seal", "path does not fit the index and size");
    need(root === B[1].sealedRoot, "seal", "path does not lead to the sealing block's sealedRoot");
    pass("seal", `leaf ${M.index} of ${M.size} reaches sealedRoot of block ${B[1].height}`);

    const parts = String(T).split(".");
    need(parts.length === 3 && parts[0] === "fc1", "membership", "not a join token");
    const [, P, S] = parts;
    const sig = base64urlToBytes(S);
    need(
      sig.length === 64 && bytesToBase64url(sig) === S,
      "membership",
      "signature is not 64 bytes of canonical base64url",
    );
    let payload;
    try {
      payload = JSON.parse(new TextDecoder().decode(base64urlToBytes(P)));
    } catch {
      need(false, "membership", "payload is not JSON");
    }
    need(
      payload.network === networkId && payload.adminPublicKey === N.adminPublicKey,
      "membership",
      "token of another network",
    );
    need(
      await ed25519(N.adminPublicKey, utf8("flowchain/join-token/v1\n" + P), sig),
      "membership",
      "the token is not signed by the network's admin",
    );
    pass("membership", "join token signed by the network's admin");

    let anchor = "membership";
    if (CP !== null && CP !== undefined) {
      const C = CP.checkpoint;
      need(C && C["@type"] === "Checkpoint", "checkpoint", "malformed");
      need(
        C.network === networkId && C.adminKey === N.adminPublicKey,
        "checkpoint",
        "of another network or admin",
      );
      need(C.merkle === undefined || C.merkle === 2, "checkpoint", "unknown merkle version");
      const w = C.merkle ?? 1;
      need(Array.isArray(C.heads) && C.heads.every((h) => HEX64.test(h?.head)), "checkpoint", "bad heads");
      need(
        (await treeHash(
          C.heads.map((h) => h.head),
          w,
        )) === C.root,
        "checkpoint",
        "root does not match the heads",
      );
      const { signature: cs, ...body } = C;
      const csOk = typeof cs === "string" && /^[0-9a-f]{128}$/.test(cs);
      need(
        csOk &&
          (await ed25519(
            N.adminPublicKey,
            utf8("flowchain/checkpoint/v1\n" + canonical(body)),
            hexToBytes(cs),
          )),
        "checkpoint",
        "bad admin signature",
      );
      const head = C.heads[CP.index];
      const last = B[B.length - 1];
      need(head && head.miner === R.miner, "checkpoint", "the head is another miner's");
      need(
        head.head === last.hash && head.height === last.height,
        "checkpoint",
        "the head is not the last block of the chain",
      );
      const cpRoot = await pathRoot(head.head, CP.index, C.heads.length, CP.path, w);
      need(cpRoot === C.root, "checkpoint", "path does not lead from the head to the checkpoint root");
      pass(
        "checkpoint",
        `admin-signed checkpoint of ${new Date(C.time).toISOString()} names head ${last.height}`,
      );
      anchor = "checkpoint";
    } else {
      need(B.length === 2, "checkpoint", "blocks past the sealing block without a checkpoint");
    }
    return { ok: true, steps, anchor, networkId, txID: R.txID, miner: R.miner };
  } catch (e) {
    const step = e instanceof Fail ? e.step : "shape";
    const why = e instanceof Fail ? e.message : `malformed: ${e?.message ?? e}`;
    steps.push({ step, ok: false, detail: why });
    return { ok: false, steps, reason: `${step}: ${why}` };
  }
}
