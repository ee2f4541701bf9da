#!/usr/bin/env bun
// The whole test suite: host unit tests, then the guest suites on every
// kernel of the matrix. Prints one line per part and the closing
// "N passed, N failed" line; exits non-zero if anything failed.
//
//   bun test/run.ts [--kernel NAME]... [--suite FILE]... [--skip-host]
//
// The system scenarios (test/system: a Debian machine with systemd, booted
// twice per kernel) and the guest suites run two guests at a time, one per
// core; --suite test/system/machine.system.ts runs only the system ones.
import { existsSync, mkdirSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { runInGuest } from "./vm/guest.ts";
import { ensureKernel, isKernelName, KERNEL_NAMES, type KernelName } from "./vm/kernels.ts";
import { systemScenarios } from "./system/run.ts";

const ROOT = resolve(import.meta.dir, "..");
const BUN = process.execPath;
const GUEST_SUITES = [
  "test/guest/foundation.guest.ts",
  "test/guest/policy.guest.ts",
  "test/guest/audit.guest.ts",
  "test/guest/binding.guest.ts",
  "test/guest/differential.guest.ts",
  "test/guest/corpus.guest.ts",
  "test/guest/crash.guest.ts",
  "test/guest/escape.guest.ts",
  // Last: it leaves a second cgwarden sealed until reboot.
  "test/guest/seal.guest.ts",
];
const SYSTEM_SUITE = "test/system/machine.system.ts";
/** A boot without the BPF LSM: cgwarden must refuse cleanly. */
const UNSUPPORTED_SUITE = "test/guest/unsupported.guest.ts";
const GUEST_TIMEOUT_MS = 30 * 60_000;

interface Tally {
  label: string;
  passed: number;
  failed: number;
  note?: string;
}

function parseArgs(argv: string[]) {
  const kernels: KernelName[] = [];
  const suites: string[] = [];
  let skipHost = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === "--kernel") {
      const k = argv[++i] ?? "";
      if (!isKernelName(k)) throw new Error(`unknown kernel '${k}'; choose from ${KERNEL_NAMES.join(", ")}`);
      kernels.push(k);
    } else if (a === "--suite") suites.push(argv[++i] ?? "");
    else if (a === "--skip-host") skipHost = true;
    else throw new Error(`unknown argument '${a}'`);
  }
  return { kernels: kernels.length ? kernels : [...KERNEL_NAMES], suites, skipHost };
}

/** bun test ends with " N pass" and " N fail" lines. */
function bunCounts(output: string): { passed: number; failed: number } | null {
  const pass = /^\s*(\d+) pass$/m.exec(output);
  const fail = /^\s*(\d+) fail$/m.exec(output);
  if (!pass && !fail) return null;
  return { passed: Number(pass?.[1] ?? 0), failed: Number(fail?.[1] ?? 0) };
}

function sh(argv: string[], what: string): void {
  const p = Bun.spawnSync(argv, { cwd: ROOT, stdout: "inherit", stderr: "inherit" });
  if (p.exitCode !== 0) throw new Error(`${what} failed (exit ${p.exitCode})`);
}

/** Everything the guests run: the executable, the embedded object check, and the mover fixture. */
function build(): void {
  sh([BUN, "scripts/build.ts", "--verify"], "checking embedded/ against bpf/");
  sh([BUN, "scripts/build.ts"], "building dist/cgwarden");
  mkdirSync(join(ROOT, "dist/test"), { recursive: true });
  for (const fixture of ["mover", "attacker", "intruder"]) buildFixture(fixture);
  for (const kind of ["fentry", "fmod_ret", "lsm"]) buildBpfFixture("intruder", kind);
}

/** One program of a kind another root process might load (test/fixtures/intruder.bpf.c). */
function buildBpfFixture(name: string, kind: string): void {
  const src = join(ROOT, `test/fixtures/${name}.bpf.c`);
  const out = join(ROOT, `dist/test/${name}-${kind}.bpf.o`);
  if (existsSync(out) && statSync(out).mtimeMs >= statSync(src).mtimeMs) return;
  const clang = process.env.CLANG ?? "clang-16";
  sh([clang, "-O2", "-g", "-target", "bpf", "-I/usr/include/x86_64-linux-gnu", `-DKIND_${kind.toUpperCase()}`, "-c", src, "-o", out], `building the ${name} ${kind} BPF fixture`);
}

/**
 * Rebuilt only when its source is newer: the suites match --exe rules by
 * inode, and a fixture replaced under a running guest would match no more.
 */
function buildFixture(name: string): void {
  const src = join(ROOT, `test/fixtures/${name}.c`);
  const out = join(ROOT, `dist/test/${name}`);
  if (existsSync(out) && statSync(out).mtimeMs >= statSync(src).mtimeMs) return;
  sh(["cc", "-O2", "-Wall", "-pthread", "-o", out, src], `building the ${name} fixture`);
}

function hostTests(): Tally {
  const p = Bun.spawnSync([BUN, "test", "test/unit"], { cwd: ROOT, stdout: "pipe", stderr: "pipe", env: { ...process.env, NO_COLOR: "1" } });
  const output = p.stdout.toString() + p.stderr.toString();
  process.stdout.write(output);
  const counts = bunCounts(output) ?? { passed: 0, failed: 1 };
  if (p.exitCode !== 0 && counts.failed === 0) counts.failed = 1;
  return { label: "host", ...counts };
}

async function systemTally(kernel: KernelName): Promise<Tally> {
  const label = `${kernel} system`;
  try {
    return { label, ...(await systemScenarios(kernel)) };
  } catch (e) {
    process.stdout.write(`${(e as Error).message}\n`);
    return { label, passed: 0, failed: 1, note: "system guest failed: see above" };
  }
}

/**
 * Runs jobs two at a time, in order (each is one single-CPU guest, and
 * the machine has 2 cores); results come back in the jobs' order.
 */
async function inPairs(jobs: (() => Promise<Tally>)[]): Promise<Tally[]> {
  const out: Tally[] = new Array(jobs.length);
  let next = 0;
  const worker = async () => {
    while (next < jobs.length) {
      const i = next++;
      out[i] = await jobs[i]!();
    }
  };
  await Promise.all([worker(), worker()]);
  return out;
}

async function guestTests(kernel: KernelName, suites: string[], kernelArgs: string[] = [], label: string = kernel): Promise<Tally> {
  const k = await ensureKernel(kernel);
  try {
    const r = await runInGuest({
      kernel: k,
      argv: [BUN, "test", "--timeout", "300000", ...suites.map((s) => `./${s}`)],
      env: { CGWARDEN_TEST_KERNEL: kernel, NO_COLOR: "1" },
      timeoutMs: GUEST_TIMEOUT_MS,
      kernelArgs,
    });
    process.stdout.write(r.output);
    const counts = bunCounts(r.output);
    if (!counts) {
      process.stdout.write(`--- guest console ---\n${r.consoleTail}\n`);
      return { label, passed: 0, failed: 1, note: `no test summary (exit ${r.exitCode})` };
    }
    if (r.exitCode !== 0 && counts.failed === 0) counts.failed = 1;
    return { label, ...counts, note: `${k.description}; boot ${(r.bootMs / 1000).toFixed(1)} s, total ${(r.durationMs / 1000).toFixed(1)} s` };
  } catch (e) {
    process.stdout.write(`${(e as Error).message}\n`);
    return { label, passed: 0, failed: 1, note: "guest failed: see above" };
  }
}

async function main(): Promise<number> {
  const opts = parseArgs(process.argv.slice(2));
  const tallies: Tally[] = [];
  // The hook kernel's first build takes about 15 minutes on 2 cores: start it
  // now, so it overlaps the other kernels' suites instead of following them.
  if (opts.kernels.includes("hook-6.12") && opts.kernels[0] !== "hook-6.12") void ensureKernel("hook-6.12");
  build();
  if (!opts.skipHost) tallies.push(hostTests());
  const system = !opts.suites.length || opts.suites.includes(SYSTEM_SUITE);
  const suites = opts.suites.length ? opts.suites.filter((s) => s !== SYSTEM_SUITE) : GUEST_SUITES;
  for (const s of suites) if (!existsSync(join(ROOT, s))) throw new Error(`no suite ${s}`);
  // Per kernel, its guest suites and then its system boots; the kernel
  // whose build may still be running (hook-6.12, listed last) comes last.
  const jobs: (() => Promise<Tally>)[] = [];
  for (const kernel of opts.kernels) {
    if (suites.length) jobs.push(() => guestTests(kernel, suites));
    if (system) jobs.push(() => systemTally(kernel));
  }
  if (!opts.suites.length && opts.kernels.includes("debian-6.12"))
    jobs.push(() => guestTests("debian-6.12", [UNSUPPORTED_SUITE], ["lsm=lockdown,capability"], "debian-6.12 without BPF LSM"));
  tallies.push(...(await inPairs(jobs)));

  console.log("\nresults:");
  for (const t of tallies) console.log(`  ${t.label}: ${t.passed} passed, ${t.failed} failed${t.note ? ` (${t.note})` : ""}`);
  const passed = tallies.reduce((n, t) => n + t.passed, 0);
  const failed = tallies.reduce((n, t) => n + t.failed, 0);
  console.log(`${passed} passed, ${failed} failed`);
  return failed ? 1 : 0;
}

process.exitCode = await main().catch((e: Error) => {
  console.error(`test/run.ts: ${e.message}`);
  console.log("0 passed, 1 failed");
  return 1;
});
