// What every script in things/ shares: read the command line, fetch a node's TD (http:// TD URL
// such as http://host:8080/.well-known/wot, or a coap:// one) and consume it with node-wot.
import { readFile } from "node:fs/promises";
import { parseArgs } from "node:util";
import wotCore from "@node-wot/core";
import bindingHttp from "@node-wot/binding-http";
// Through the package export, as a script outside this repository imports it.
import { FlowchainCoapClientFactory } from "flowchain/client";

const { Servient } = wotCore;
const { HttpClientFactory } = bindingHttp;

export interface Consumer {
  thing: WoT.ConsumedThing;
  td: WoT.ThingDescription;
  /** Index of the first form of an interaction whose href uses `scheme`, to pin a binding. */
  formIndex(kind: "properties" | "actions" | "events", name: string, scheme: string): number;
  /** Shuts the consumer down and ends the process. */
  close(): Promise<never>;
}

export interface Options {
  url: string;
  count: number;
  /** --duration seconds: stop after this long (Infinity: no limit). */
  duration: number;
  flags: Record<string, string | boolean | undefined>;
}

/** `script <TD URL> [--count N] [--duration s] [--name value ...]`; both default to no limit (^C). */
export function readArgs(usage: string, extra: Record<string, { type: "string" | "boolean" }> = {}): Options {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      count: { type: "string" },
      duration: { type: "string" },
      help: { type: "boolean" },
      "credential-file": { type: "string" },
      ...extra,
    },
  });
  if (values.help === true || positionals.length !== 1) {
    process.stderr.write(`usage: ${usage}\n`);
    process.exit(values.help === true ? 0 : 2);
  }
  const count = values.count === undefined ? Infinity : Number(values.count);
  if (!(count > 0)) fail("--count must be a positive number");
  const duration = values.duration === undefined ? Infinity : Number(values.duration);
  if (!(duration > 0)) fail("--duration must be a positive number of seconds");
  return { url: positionals[0]!, count, duration, flags: values };
}

/** Ends the script after --duration seconds, whatever is still running. */
export function stopAfter(seconds: number, close: () => Promise<unknown>): void {
  if (Number.isFinite(seconds)) setTimeout(() => void close(), seconds * 1000);
}

/**
 * The credential a script sends: `--credential-file FILE` (e.g. a first node's
 * `.flowchain/device-credential`), else FLOWCHAIN_CREDENTIAL_FILE or FLOWCHAIN_CREDENTIAL, so it is
 * never on the process list. Undefined when none is given.
 */
export async function readCredential(flags: Options["flags"]): Promise<string | undefined> {
  const file = (flags["credential-file"] as string | undefined) ?? process.env.FLOWCHAIN_CREDENTIAL_FILE;
  if (file !== undefined && file !== "") {
    try {
      return (await readFile(file, "utf8")).trim();
    } catch (err) {
      fail(`cannot read the credential from ${file}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  const env = process.env.FLOWCHAIN_CREDENTIAL;
  return env === undefined || env === "" ? undefined : env;
}

export async function consume(url: string, credentials?: { token: string }): Promise<Consumer> {
  const servient = new Servient();
  servient.addClientFactory(new HttpClientFactory());
  servient.addClientFactory(new FlowchainCoapClientFactory());
  const wot = await servient.start();
  let td: WoT.ThingDescription;
  try {
    td = await wot.requestThingDescription(url);
  } catch (err) {
    fail(`cannot read the TD at ${url}: ${err instanceof Error ? err.message : String(err)}`);
  }
  // node-wot looks credentials up by the Thing's id; the TD's Thing-level bearer scheme sends it
  // over HTTP, and its CoAP forms' query scheme over CoAP (with our client: the stock one sends none).
  if (credentials && td.id !== undefined) servient.addCredentials({ [td.id]: credentials });
  const thing = await wot.consume(td);
  const formIndex = (kind: "properties" | "actions" | "events", name: string, scheme: string) => {
    const forms =
      (td[kind] as Record<string, { forms: { href: string }[] }> | undefined)?.[name]?.forms ?? [];
    const i = forms.findIndex((f) => f.href.startsWith(`${scheme}:`));
    if (i < 0) fail(`the TD offers no ${scheme} form for ${kind}/${name}`);
    return i;
  };
  const close = async (): Promise<never> => {
    await servient.shutdown();
    // node-coap's agent keeps its UDP socket (and so the process) alive for seconds after the last
    // exchange; everything is printed and unsubscribed by now.
    process.exit(0);
  };
  return { thing, td, formIndex, close };
}

/** One JSON object per line on stdout: easy to read, easy to pipe into jq. */
export function print(obj: unknown): void {
  process.stdout.write(JSON.stringify(obj) + "\n");
}

export function fail(message: string): never {
  process.stderr.write(`error: ${message}\n`);
  process.exit(1);
}
