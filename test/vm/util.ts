// Small host-side helpers shared by the guest harness: installing missing
// Debian packages, the cache directory, and a cross-process lock. Running
// commands and cleanup on interruption are scripts/project.ts's.

import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from "node:fs";
import { dirname } from "node:path";
import { onInterrupt, runOkAsync, spawnAsync } from "../../scripts/project.ts";


/** Downloads and kernel builds live outside the repo: they are large (the
 * hook kernel's build tree is ~4 GB) and shared between checkouts. */
export function cacheDir(): string {
  const dir = process.env.CGWARDEN_TEST_CACHE || "/var/cache/cgwarden-test";
  mkdirSync(dir, { recursive: true });
  return dir;
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
    const r = await spawnAsync(["dpkg-query", "-W", "-f=${Status}", p]);
    if (r.code !== 0 || !r.out.includes("install ok installed")) missing.push(p);
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
  if ((await spawnAsync(install, { env })).code === 0) return;
  await runOkAsync(["apt-get", "update"], { env });
  await runOkAsync(install, { env });
}

/** Run `apt-get update` at most once per process: it is slow and only
 * needed when the local package lists turn out to be stale. */
let aptUpdated = false;
export async function aptUpdateOnce(): Promise<void> {
  if (aptUpdated) return;
  aptUpdated = true;
  progress("apt-get update (package lists look stale)");
  await runOkAsync(["apt-get", "update"], { env: { DEBIAN_FRONTEND: "noninteractive" } });
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

export function exists(path: string): boolean {
  return existsSync(path);
}
