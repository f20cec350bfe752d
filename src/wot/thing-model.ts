// Turns the project's Thing Model (td/flowchain-node.tm.json) into one node's TD init: the model is
// the single source of the Thing's shape, so the TD, the docs and the input validation never drift.
import { readFileSync } from "node:fs";

// The Flowchain terms are inlined in the model's @context (a reader needs no document of ours).
export const TD_CONTEXT_URL = "https://www.w3.org/2022/wot/td/v1.1";

const TD_DIR = new URL("../../../td/", import.meta.url);

export function readProjectFile(name: string): string {
  return readFileSync(new URL(name, TD_DIR), "utf8");
}

export function loadThingModel(): Record<string, unknown> {
  return JSON.parse(readProjectFile("flowchain-node.tm.json")) as Record<string, unknown>;
}

export interface ModelValues {
  nodeId: string;
  networkId: string;
}

/** How many hex digits of the node id go in the title: enough to tell ring members apart by eye. */
const SHORT_ID_LENGTH = 8;

export function tdFromModel(tm: Record<string, unknown>, values: ModelValues): Record<string, unknown> {
  const map: Record<string, string> = {
    NODE_ID: values.nodeId,
    SHORT_ID: values.nodeId.slice(0, SHORT_ID_LENGTH),
    NETWORK_ID: values.networkId,
  };
  const td = fill(structuredClone(tm), map) as Record<string, unknown>;
  // A TD is an instance: drop the model marker and give the instance a version.
  const types = ([] as unknown[]).concat(td["@type"] ?? []).filter((t) => t !== "tm:ThingModel");
  if (types.length > 0) td["@type"] = types.length === 1 ? types[0] : types;
  else delete td["@type"];
  const version = (td.version ?? {}) as Record<string, unknown>;
  td.version = { instance: String(version.model ?? "1.0.0"), ...version };
  for (const key of Object.keys(td)) if (key.startsWith("tm:")) delete td[key];
  const unfilled = JSON.stringify(td).match(/\{\{[A-Z_]+\}\}/);
  if (unfilled) throw new Error(`Thing Model placeholder ${unfilled[0]} has no value`);
  return td;
}

function fill(v: unknown, map: Record<string, string>): unknown {
  if (typeof v === "string") return v.replace(/\{\{([A-Z_]+)\}\}/g, (m, k: string) => map[k] ?? m);
  if (Array.isArray(v)) return v.map((x) => fill(x, map));
  if (v !== null && typeof v === "object") {
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, fill(x, map)]));
  }
  return v;
}
