// The project's root, and the one way scripts/ and test/ run a program to
// completion: output captured (spawn, runOk) or shown (runShown). Guest
// suites use it too: the project is mounted at the same path in the guests.
import { resolve } from "node:path";

export const ROOT = resolve(import.meta.dir, "..");

export interface Ran {
  code: number;
  out: string;
  err: string;
}

export interface SpawnOptions {
  cwd?: string;
  /** Added to this process's environment (NO_COLOR=1 always: output is compared, never shown in colour). */
  env?: Record<string, string>;
  /** Standard input; none when absent. */
  input?: string | Uint8Array;
}

/** Runs argv to completion and returns its exit status and output; never throws. */
export function spawn(argv: string[], opts: SpawnOptions = {}): Ran {
  const p = Bun.spawnSync(argv, {
    cwd: opts.cwd,
    env: { ...process.env, NO_COLOR: "1", ...opts.env },
    stdin: opts.input === undefined ? "ignore" : Buffer.from(opts.input),
    stdout: "pipe",
    stderr: "pipe",
  });
  return { code: p.exitCode ?? -1, out: p.stdout.toString(), err: p.stderr.toString() };
}

/** Runs argv and returns its standard output; a failure throws, naming the command, its status and its stderr. */
export function runOk(argv: string[], opts: SpawnOptions = {}): string {
  const r = spawn(argv, opts);
  if (r.code !== 0) throw new Error(`${argv.join(" ")} failed (exit ${r.code}): ${r.err.trim()}`);
  return r.out;
}

/** Runs argv in the project's root with its output on this process's own; a failure throws, saying what failed. */
export function runShown(argv: string[], what: string): void {
  const p = Bun.spawnSync(argv, { cwd: ROOT, stdout: "inherit", stderr: "inherit" });
  if (p.exitCode !== 0) throw new Error(`${what} failed (exit ${p.exitCode})`);
}
