// The project's root, and the one way scripts/ and test/ run a program to
// completion: output captured (spawn, runOk; spawnAsync, runOkAsync for the
// harness, which drains guests' consoles meanwhile) or shown (runShown).
// Guest suites use it too: the project is mounted at the same path in the
// guests. Also the cleanups that must run if this process is interrupted.
import { closeSync, openSync, readFileSync } from "node:fs";
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
  if (r.code !== 0) throw failed(argv, r.code, r.err.trim());
  return r.out;
}

export interface AsyncSpawnOptions extends Omit<SpawnOptions, "input"> {
  /** Append the output to this file instead of capturing it (long builds); the command then runs as a process group. */
  logFile?: string;
}

/** Takes the whole group down on SIGTERM: make alone leaves its sub-makes behind. */
const GROUP_WRAPPER = `trap 'trap - TERM; kill -TERM 0; exit 143' TERM; "$@" & wait $!`;

/**
 * spawn() without blocking this process, and killed if it is interrupted.
 * With a log file the command runs as its own process group under a shell
 * that ends the group on SIGTERM, and pdeathsig sends that SIGTERM even if
 * this process is SIGKILLed, so no orphaned kernel build keeps writing into
 * the cached tree.
 */
export async function spawnAsync(argv: string[], opts: AsyncSpawnOptions = {}): Promise<Ran> {
  // Appending lets several build steps share one log file.
  const log = opts.logFile ? openSync(opts.logFile, "a") : undefined;
  const cmd = log === undefined ? argv : ["setpriv", "--pdeathsig", "TERM", "--", "setsid", "--wait", "sh", "-c", GROUP_WRAPPER, "sh", ...argv];
  let unregister = () => {};
  try {
    const proc = Bun.spawn(cmd, {
      cwd: opts.cwd,
      env: { ...process.env, NO_COLOR: "1", ...opts.env },
      stdin: "ignore",
      stdout: log ?? "pipe",
      stderr: log ?? "pipe",
    });
    unregister = onInterrupt(() => proc.kill("SIGTERM"));
    const [out, err, code] = await Promise.all([
      log === undefined ? new Response(proc.stdout as ReadableStream).text() : "",
      log === undefined ? new Response(proc.stderr as ReadableStream).text() : "",
      proc.exited,
    ]);
    return { code, out, err };
  } finally {
    unregister();
    if (log !== undefined) closeSync(log);
  }
}

/** runOk() without blocking; with a log file, a failure quotes the log's last lines instead of stderr. */
export async function runOkAsync(argv: string[], opts: AsyncSpawnOptions = {}): Promise<string> {
  const r = await spawnAsync(argv, opts);
  if (r.code !== 0)
    throw failed(argv, r.code, opts.logFile ? `last lines of ${opts.logFile}:\n${readFileSync(opts.logFile, "utf8").trimEnd().split("\n").slice(-30).join("\n")}` : r.err.trim());
  return r.out;
}

function failed(argv: string[], code: number, detail: string): Error {
  return new Error(`${argv.join(" ")} failed (exit ${code}): ${detail}`);
}

/** Runs argv in the project's root with its output on this process's own; a failure throws, saying what failed. */
export function runShown(argv: string[], what: string): void {
  const p = Bun.spawnSync(argv, { cwd: ROOT, stdout: "inherit", stderr: "inherit" });
  if (p.exitCode !== 0) throw new Error(`${what} failed (exit ${p.exitCode})`);
}

// ---- cleanup on interruption ------------------------------------------

const cleanups = new Set<() => void>();
let handlersInstalled = false;

function runCleanups(): void {
  for (const fn of [...cleanups].reverse()) {
    try {
      fn();
    } catch {
      // best effort: the process is going away
    }
  }
  cleanups.clear();
}

/**
 * Registers a synchronous cleanup that runs if this process is interrupted
 * (SIGINT, SIGTERM, SIGHUP) or exits early: guests, kernel builds and locks
 * must not outlive the run. Returns the unregister function for the normal path.
 */
export function onInterrupt(fn: () => void): () => void {
  if (!handlersInstalled) {
    handlersInstalled = true;
    for (const [sig, code] of [["SIGINT", 130], ["SIGTERM", 143], ["SIGHUP", 129]] as const) {
      process.on(sig, () => {
        runCleanups();
        process.exit(code);
      });
    }
    process.on("exit", runCleanups);
  }
  cleanups.add(fn);
  return () => {
    cleanups.delete(fn);
  };
}
