// Fetches an inclusion proof from a node as any WoT consumer would: reads the node's TD and posts
// to the `proof` action's HTTP form. The CLI's `flowchain proof` uses it.
import { WELL_KNOWN_PATH } from "./http-front.js";

/** `url`: any http(s) URL of one node (its TD URL, or just http://host:port). */
export async function fetchProof(url: string, txID: string): Promise<unknown> {
  const tdUrl = new URL(WELL_KNOWN_PATH, url);
  const res = await fetch(tdUrl, { headers: { accept: "application/json" } });
  if (!res.ok) throw new Error(`GET ${tdUrl.href}: HTTP ${res.status}`);
  const td = (await res.json()) as { actions?: Record<string, { forms?: { href?: unknown }[] }> };
  const href = td.actions?.proof?.forms
    ?.map((f) => f.href)
    .find((h): h is string => typeof h === "string" && /^https?:\/\//.test(h));
  if (href === undefined) throw new Error(`the TD at ${tdUrl.href} has no HTTP form for the proof action`);
  const answer = await fetch(href, {
    method: "POST",
    headers: { "content-type": "application/json", accept: "application/json" },
    body: JSON.stringify({ txID }),
  });
  const text = await answer.text();
  if (!answer.ok) throw new Error(`POST ${href}: HTTP ${answer.status} ${text}`);
  return JSON.parse(text) as unknown;
}
