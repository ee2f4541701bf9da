// The hook-6.12 guest kernel: Debian's linux-source-6.12 plus our port of
// the proposed bpf_lsm_cgroup_attach hook, built once and cached outside
// the repo. The build tree is kept so that a changed patch or config
// fragment rebuilds incrementally (about a minute) instead of from scratch.

import { copyFileSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import { cacheDir, ensureDebs, exists, progress, sha256, withLock } from "./util.ts";
import { runOkAsync, spawnAsync } from "../../scripts/project.ts";

const SOURCE_PKG = "linux-source-6.12";
const SOURCE_TARBALL = "/usr/src/linux-source-6.12.tar.xz";
const BUILD_DEPS = [SOURCE_PKG, "build-essential", "bc", "bison", "flex", "libelf-dev", "libssl-dev", "dwarves", "xz-utils", "patch"];

export const HOOK_PATCH = join(import.meta.dir, "kernel", "cgroup-attach-hook.patch");
export const HOOK_CONFIG = join(import.meta.dir, "kernel", "guest.config");

/** Bump when the build steps below change in a way that alters the image. */
const RECIPE = "hook-6.12 recipe 1";

// Markers inside the build tree saying what it currently holds.
const SOURCE_MARK = ".cgwarden-source";
const APPLIED_PATCH = ".cgwarden-applied.patch";

export interface HookKernel {
  bzImage: string;
  sourceVersion: string;
}

async function sourceVersion(): Promise<string> {
  // Installed version if any; otherwise what apt would install. This keeps
  // a cached image usable without installing the 150 MB source package.
  const inst = await spawnAsync(["dpkg-query", "-W", "-f=${Status} ${Version}", SOURCE_PKG]);
  const m = /install ok installed (\S+)/.exec(inst.out);
  if (m?.[1]) return m[1];
  const pol = await spawnAsync(["apt-cache", "policy", SOURCE_PKG]);
  const c = /Candidate:\s*(\S+)/.exec(pol.out)?.[1];
  if (c && c !== "(none)") return c;
  await ensureDebs([SOURCE_PKG]);
  return sourceVersion();
}

export async function ensureHookKernel(): Promise<HookKernel> {
  const dir = join(cacheDir(), "hook-6.12");
  const version = await sourceVersion();
  const patch = readFileSync(HOOK_PATCH);
  const fragment = readFileSync(HOOK_CONFIG);
  const key = sha256(RECIPE, version, patch, fragment).slice(0, 16);
  const image = join(dir, `bzImage-${key}`);
  if (exists(image)) return { bzImage: image, sourceVersion: version };

  await withLock(join(dir, "build.lock"), "the hook-6.12 kernel build", async () => {
    if (exists(image)) return; // another run built it while we waited
    await ensureDebs(BUILD_DEPS);
    const installed = await sourceVersion();
    if (installed !== version) {
      throw new Error(`${SOURCE_PKG}: expected ${version} but ${installed} is installed; rerun`);
    }
    const tree = join(dir, "tree");
    const log = join(dir, "build.log");
    writeFileSync(log, `# ${new Date().toISOString()} building ${key} from ${SOURCE_PKG} ${version}\n`);
    await prepareTree(tree, version, patch, log);
    await configure(tree, log);
    await build(tree, log);
    copyFileSync(join(tree, "arch/x86/boot/bzImage"), `${image}.tmp`);
    renameSync(`${image}.tmp`, image);
    progress(`hook-6.12 kernel ready: ${image}`);
  });
  return { bzImage: image, sourceVersion: version };
}

async function prepareTree(tree: string, version: string, patch: Buffer, log: string): Promise<void> {
  const have = exists(join(tree, SOURCE_MARK)) ? readFileSync(join(tree, SOURCE_MARK), "utf8") : "";
  if (have !== version) await extract(tree, version, log);

  const applied = exists(join(tree, APPLIED_PATCH)) ? readFileSync(join(tree, APPLIED_PATCH)) : undefined;
  if (applied?.equals(patch)) return;
  if (applied) {
    // Take the old patch back out; if the tree no longer matches it
    // (edited by hand?), start over from the tarball.
    const reverse = ["patch", "-p1", "-R", "-s", "-i", join(tree, APPLIED_PATCH)];
    if ((await spawnAsync([...reverse, "--dry-run"], { cwd: tree })).code === 0) {
      await runOkAsync(reverse, { cwd: tree, logFile: log });
      rmSync(join(tree, APPLIED_PATCH));
    } else {
      progress("hook-6.12: previous patch does not reverse cleanly, re-extracting the source");
      await extract(tree, version, log);
    }
  }
  const r = await spawnAsync(["patch", "-p1", "--dry-run", "-i", HOOK_PATCH], { cwd: tree });
  if (r.code !== 0) {
    throw new Error(`${HOOK_PATCH} does not apply to ${SOURCE_PKG} ${version}:\n${r.out}${r.err}`);
  }
  await runOkAsync(["patch", "-p1", "-s", "-i", HOOK_PATCH], { cwd: tree, logFile: log });
  writeFileSync(join(tree, APPLIED_PATCH), patch);
}

async function extract(tree: string, version: string, log: string): Promise<void> {
  progress(`hook-6.12: extracting ${SOURCE_TARBALL} (about 1 min)`);
  const tmp = `${tree}.tmp`;
  rmSync(tmp, { recursive: true, force: true });
  rmSync(tree, { recursive: true, force: true });
  await runOkAsync(["mkdir", "-p", tmp]);
  await runOkAsync(["tar", "-xJf", SOURCE_TARBALL, "-C", tmp, "--strip-components=1"], { logFile: log });
  writeFileSync(join(tmp, SOURCE_MARK), version);
  renameSync(tmp, tree);
}

async function configure(tree: string, log: string): Promise<void> {
  // Regenerating .config every time is cheap, and Kconfig only touches
  // the timestamps of options whose value changed, so make stays incremental.
  const make = (...args: string[]) => runOkAsync(["make", ...args], { cwd: tree, logFile: log });
  await make("x86_64_defconfig");
  await make("kvm_guest.config");
  await runOkAsync(["scripts/kconfig/merge_config.sh", "-m", ".config", HOOK_CONFIG], { cwd: tree, logFile: log });
  await make("olddefconfig");
  verifyConfig(readFileSync(join(tree, ".config"), "utf8"), readFileSync(HOOK_CONFIG, "utf8"));
}

/** olddefconfig silently drops options whose dependencies are unmet; a
 * kernel without, say, BPF_LSM would make every enforcement test fail in
 * confusing ways, so insist that the fragment took effect. */
export function verifyConfig(config: string, fragment: string): void {
  const have = new Map<string, string>();
  for (const line of config.split("\n")) {
    const m = /^(CONFIG_\w+)=(.*)$/.exec(line);
    if (m?.[1] && m[2] !== undefined) have.set(m[1], m[2]);
  }
  const wrong: string[] = [];
  for (const raw of fragment.split("\n")) {
    const line = raw.trim();
    const set = /^(CONFIG_\w+)=(.*)$/.exec(line);
    if (set?.[1] && set[2] !== undefined && have.get(set[1]) !== set[2]) {
      wrong.push(`${line} (got ${have.get(set[1]) ?? "unset"})`);
    }
    const unset = /^# (CONFIG_\w+) is not set$/.exec(line);
    if (unset?.[1] && have.has(unset[1]) && have.get(unset[1]) !== "n") {
      wrong.push(`${unset[1]} should be off (got ${have.get(unset[1])})`);
    }
  }
  if (wrong.length > 0) {
    throw new Error(`hook-6.12 kernel config did not take these options:\n  ${wrong.join("\n  ")}`);
  }
}

async function build(tree: string, log: string): Promise<void> {
  const first = !exists(join(tree, "vmlinux"));
  progress(
    first
      ? "building hook-6.12 kernel (about 13 min on 2 cores)..."
      : "rebuilding hook-6.12 kernel (incremental, 1-2 min)...",
  );
  progress(`build log: ${log}`);
  const started = Date.now();
  const ticker = setInterval(() => {
    const min = ((Date.now() - started) / 60000).toFixed(0);
    progress(`  still building hook-6.12 (${min} min): ${lastLine(log)}`);
  }, 60_000);
  try {
    const jobs = String(availableParallelism());
    // At the same priority as the guests beside it. runOkAsync() gives the
    // build a session of its own, so with autogroup scheduling (Debian's
    // default) it gets about half the CPU whatever its nice value (a run
    // from empty caches: 47 minutes, 2026-12-07); raising that group's own
    // priority would slow the guests as much, and their tests have fixed
    // timeouts.
    await runOkAsync(["make", `-j${jobs}`, "bzImage"], { cwd: tree, logFile: log });
  } finally {
    clearInterval(ticker);
  }
  progress(`hook-6.12 built in ${((Date.now() - started) / 1000).toFixed(0)} s`);
}

function lastLine(file: string): string {
  try {
    const text = readFileSync(file, "utf8");
    return text.trimEnd().split("\n").at(-1)?.trim() ?? "";
  } catch {
    return "";
  }
}
