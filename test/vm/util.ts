// Small host-side helpers shared by the guest harness: running commands,
// installing missing Debian packages, the cache directory, a cross-process
// lock, and cleanup that also runs when the host process is interrupted.

import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from "node:fs";
import { dirname } from "node:path";
import { ROOT } from "../../scripts/project.ts";


/** Downloads and kernel builds live outside the repo: they are large (the
 * hook kernel's build tree is ~4 GB) and shared between checkouts. */
export function cacheDir(): string {
  const dir = process.env.CGWARDEN_TEST_CACHE || "/var/cache/cgwarden-test";
  mkdirSync(dir, { recursive: true });
  return dir;
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  cwd?: string;
  env?: Record<string, string>;
  /** Send output to this file instead of capturing it (long builds). */
  logFile?: string;
}

const GROUP_WRAPPER = `trap 'trap - TERM; kill -TERM 0; exit 143' TERM; "$@" & wait $!`;

export async function run(argv: string[], opts: RunOptions = {}): Promise<RunResult> {
  // Appending lets several build steps share one log file.
  const log = opts.logFile ? openSync(opts.logFile, "a") : undefined;
  // Long logged jobs (kernel builds) run as their own process group under a
  // shell that takes the whole group down on SIGTERM (make alone leaves
  // sub-makes behind), and pdeathsig sends that SIGTERM even if we are
  // SIGKILLed, so no orphan build keeps writing into the cached tree.
  const cmd = log === undefined ? argv : ["setpriv", "--pdeathsig", "TERM", "--", "setsid", "--wait", "sh", "-c", GROUP_WRAPPER, "sh", ...argv];
  let unregister = () => {};
  try {
    const proc = Bun.spawn(cmd, {
      cwd: opts.cwd,
      env: { ...process.env, ...opts.env },
      stdin: "ignore",
      stdout: log ?? "pipe",
      stderr: log ?? "pipe",
    });
    unregister = onInterrupt(() => proc.kill("SIGTERM"));
    const [stdout, stderr, code] = await Promise.all([
      log === undefined ? new Response(proc.stdout as ReadableStream).text() : "",
      log === undefined ? new Response(proc.stderr as ReadableStream).text() : "",
      proc.exited,
    ]);
    return { code, stdout, stderr };
  } finally {
    unregister();
    if (log !== undefined) closeSync(log);
  }
}

/** Like run(), but a non-zero exit is an error carrying the command's stderr. */
export async function runOk(argv: string[], opts: RunOptions = {}): Promise<string> {
  const r = await run(argv, opts);
  if (r.code !== 0) {
    const detail = opts.logFile
      ? `(log: ${opts.logFile}, last lines:)\n${readFileSync(opts.logFile, "utf8").trimEnd().split("\n").slice(-30).join("\n")}`
      : r.stderr.trim();
    throw new Error(`${argv.join(" ")} exited with ${r.code} ${detail}`);
  }
  return r.stdout;
}

export function sha256(...parts: (string | Uint8Array)[]): string {
  const h = new Bun.CryptoHasher("sha256");
  for (const p of parts) {
    h.update(p);
    // Separator so that ("ab","c") and ("a","bc") hash differently.
    h.update("\0");
  }
  return h.digest("hex");
}

export function progress(msg: string): void {
  process.stderr.write(`[vm] ${msg}\n`);
}

async function missingPackages(pkgs: string[]): Promise<string[]> {
  const missing: string[] = [];
  for (const p of pkgs) {
    const r = await run(["dpkg-query", "-W", "-f=${Status}", p]);
    if (r.code !== 0 || !r.stdout.includes("install ok installed")) missing.push(p);
  }
  return missing;
}

/** CI starts from a bare Debian 12: install what the harness needs, but only
 * what is missing, and refresh the package lists only when that fails. */
export async function ensureDebs(pkgs: string[]): Promise<void> {
  const missing = await missingPackages(pkgs);
  if (missing.length === 0) return;
  progress(`apt-get install ${missing.join(" ")}`);
  const env = { DEBIAN_FRONTEND: "noninteractive" };
  const install = ["apt-get", "install", "-y", "--no-install-recommends", ...missing];
  if ((await run(install, { env })).code === 0) return;
  await runOk(["apt-get", "update"], { env });
  await runOk(install, { env });
}

/** Run `apt-get update` at most once per process: it is slow and only
 * needed when the local package lists turn out to be stale. */
let aptUpdated = false;
export async function aptUpdateOnce(): Promise<void> {
  if (aptUpdated) return;
  aptUpdated = true;
  progress("apt-get update (package lists look stale)");
  await runOk(["apt-get", "update"], { env: { DEBIAN_FRONTEND: "noninteractive" } });
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Exclusive lock between processes (two test runs must not build the same
 * kernel at once). O_EXCL lock file holding our pid; a lock whose owner died
 * is taken over, so a killed run never blocks the next one forever. */
export async function withLock<T>(lockPath: string, what: string, fn: () => Promise<T>): Promise<T> {
  mkdirSync(dirname(lockPath), { recursive: true });
  let announced = false;
  for (;;) {
    try {
      const fd = openSync(lockPath, "wx", 0o644);
      writeSync(fd, String(process.pid));
      closeSync(fd);
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
      let owner = NaN;
      try {
        owner = Number.parseInt(readFileSync(lockPath, "utf8"), 10);
      } catch {
        continue; // removed between open and read: retry at once
      }
      if (!Number.isFinite(owner) || !pidAlive(owner)) {
        // Owner is gone (or wrote nothing yet and died); a half-written
        // file from a live owner is re-read on the next round.
        if (Number.isFinite(owner)) rmSync(lockPath, { force: true });
        else await Bun.sleep(200);
        continue;
      }
      if (!announced) {
        progress(`waiting for ${what} (lock ${lockPath} held by pid ${owner})`);
        announced = true;
      }
      await Bun.sleep(2000);
    }
  }
  const release = onInterrupt(() => rmSync(lockPath, { force: true }));
  try {
    return await fn();
  } finally {
    release();
    rmSync(lockPath, { force: true });
  }
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

/** Register a synchronous cleanup that runs if the host process is
 * interrupted (SIGINT/SIGTERM/SIGHUP) or exits early. Returns an
 * unregister function for the normal path. */
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

export function exists(path: string): boolean {
  return existsSync(path);
}
