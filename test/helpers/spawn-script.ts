// Runs a compiled things/ script as a child process and lets a test await its JSON output lines.
import { spawn, type ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";
import type { ExecutionContext } from "ava";

export interface Script {
  child: ChildProcess;
  lines: Record<string, unknown>[];
  /** Resolves when `n` lines have been printed (rejects if the script exits first). */
  waitForLines(n: number): Promise<Record<string, unknown>[]>;
  /** Resolves with the exit code. */
  exited: Promise<number | null>;
  stderr(): string;
}

const DIST_THINGS = new URL("../../things/", import.meta.url);

export function runScript(
  t: ExecutionContext,
  name: string,
  args: string[],
  env: Record<string, string> = {},
): Script {
  const child = spawn(process.execPath, [new URL(`${name}.js`, DIST_THINGS).pathname, ...args], {
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  t.teardown(() => {
    if (child.exitCode === null) child.kill();
  });
  const lines: Record<string, unknown>[] = [];
  let err = "";
  child.stderr!.on("data", (d: Buffer) => (err += d.toString()));
  const waiters: {
    n: number;
    resolve: (l: Record<string, unknown>[]) => void;
    reject: (e: Error) => void;
  }[] = [];
  // "close", not "exit": only then has all of stdout been read.
  const exited = new Promise<number | null>((resolve) => child.on("close", (code) => resolve(code)));
  createInterface({ input: child.stdout! }).on("line", (line) => {
    lines.push(JSON.parse(line) as Record<string, unknown>);
    for (const w of waiters.filter((w) => lines.length >= w.n)) {
      waiters.splice(waiters.indexOf(w), 1);
      w.resolve(lines);
    }
  });
  void exited.then((code) => {
    for (const w of waiters.splice(0)) {
      w.reject(new Error(`${name} exited (${code}) after ${lines.length} lines: ${err}`));
    }
  });
  return {
    child,
    lines,
    exited,
    stderr: () => err,
    waitForLines: (n) =>
      lines.length >= n
        ? Promise.resolve(lines)
        : new Promise((resolve, reject) => {
            if (child.exitCode !== null) reject(new Error(`${name} exited: ${err}`));
            else waiters.push({ n, resolve, reject });
          }),
  };
}
