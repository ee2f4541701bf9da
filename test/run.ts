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
// Each guest's lines stream as they come, prefixed with the job's label, so
// a guest that hangs shows the last test it started.
import { existsSync, mkdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { bunCounts, bunFailures } from "./vm/bun-output.ts";
import { GuestHung, runInGuest } from "./vm/guest.ts";
import { ensureKernel, isKernelName, KERNEL_NAMES, type KernelName } from "./vm/kernels.ts";
import { systemScenarios } from "./system/run.ts";
import { SYSTEM_KERNELS, type SystemKernelName } from "./system/boot.ts";
import { ROOT, runShown } from "../scripts/project.ts";

const BUN = process.execPath;
const GUEST_SUITES = [
  "test/guest/foundation.guest.ts",
  "test/guest/policy.guest.ts",
  "test/guest/audit.guest.ts",
  "test/guest/binding.guest.ts",
  "test/guest/differential.guest.ts",
  "test/guest/what-if.guest.ts",
  "test/guest/corpus.guest.ts",
  "test/guest/crash.guest.ts",
  "test/guest/escape.guest.ts",
  "test/guest/native.guest.ts",
  // Last: it leaves a second cgwarden sealed until reboot.
  "test/guest/seal.guest.ts",
];
const SYSTEM_SUITE = "test/system/machine.system.ts";
/** A boot without the BPF LSM: cgwarden must refuse cleanly. */
const UNSUPPORTED_SUITE = "test/guest/unsupported.guest.ts";
/**
 * A job's whole budget. debian-sid's suites under lockdown=confidentiality
 * took 1,337 to 1,505 s alone and ran out of 30 minutes beside the hook
 * kernel's on 2026-12-07, still printing; a hang is caught by GUEST_STALL_MS.
 */
const GUEST_TIMEOUT_MS = 45 * 60_000;
/**
 * A guest suite that prints nothing for this long is hung: bun prints a line
 * per test, and no test may take over 5 minutes (--timeout below).
 */
const GUEST_STALL_MS = 10 * 60_000;

/**
 * Kernel arguments a kernel's guest suites boot with. The lockdown modes are
 * what hardened machines run: Debian under Secure Boot is in integrity mode,
 * and confidentiality refuses bpf_probe_read_kernel(), which cgwarden's
 * object must do without (bpf/peek.bpf.h, "reading kernel memory by
 * address"). Every other kernel runs without lockdown, as most machines do.
 */
const SUITE_BOOT: Partial<Record<KernelName, string[]>> = {
  "debian-sid": ["lockdown=confidentiality"],
  "hook-6.12": ["lockdown=integrity"],
};

/** Kernels whose lockdown=confidentiality boot must refuse to load, cleanly (6.1 lacks bpf_rdonly_cast). */
const CONFIDENTIALITY_UNSUPPORTED: KernelName[] = ["debian-6.1"];

interface Tally {
  label: string;
  passed: number;
  failed: number;
  note?: string;
  /** Each failed test as bun printed it (bun-output.ts), repeated after the results. */
  failures?: string[];
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

/** Everything the guests run: the executable, the embedded object check, and the mover fixture. */
function build(): void {
  runShown([BUN, "scripts/build.ts", "--verify"], "checking embedded/ against bpf/");
  runShown([BUN, "scripts/build.ts"], "building dist/cgwarden");
  mkdirSync(join(ROOT, "dist/test"), { recursive: true });
  for (const fixture of ["mover", "attacker"]) buildFixture(fixture);
  buildFixture("intruder", ["-lbpf"]);
  for (const kind of ["fentry", "fmod_ret", "lsm", "iter"]) buildBpfFixture("intruder", kind);
  buildBpfFixture("hook-conformance");
}

/**
 * A BPF fixture: a program of a kind another root process might load
 * (intruder.bpf.c, once per kind), or the native hook's conformance program.
 * They see bpf/'s kernel_types.bpf.h, as cgwarden's object does.
 */
function buildBpfFixture(name: string, kind?: string): void {
  const src = join(ROOT, `test/fixtures/${name}.bpf.c`);
  const out = join(ROOT, `dist/test/${name}${kind ? `-${kind}` : ""}.bpf.o`);
  if (existsSync(out) && statSync(out).mtimeMs >= statSync(src).mtimeMs) return;
  const clang = process.env.CLANG ?? "clang-16";
  const define = kind ? [`-DKIND_${kind.toUpperCase()}`] : [];
  runShown([clang, "-O2", "-g", "-target", "bpf", "-D__TARGET_ARCH_x86", "-I/usr/include/x86_64-linux-gnu", "-Ibpf", ...define, "-c", src, "-o", out], `building the ${name}${kind ? ` ${kind}` : ""} BPF fixture`);
}

/**
 * Rebuilt only when its source is newer: the suites match --exe rules by
 * inode, and a fixture replaced under a running guest would match no more.
 */
function buildFixture(name: string, libraries: string[] = []): void {
  const src = join(ROOT, `test/fixtures/${name}.c`);
  const out = join(ROOT, `dist/test/${name}`);
  if (existsSync(out) && statSync(out).mtimeMs >= statSync(src).mtimeMs) return;
  runShown(["cc", "-O2", "-Wall", "-pthread", "-o", out, src, ...libraries], `building the ${name} fixture`);
}

/** The TypeScript compiler's check of the whole tree (tsconfig.json): one counted test. */
function typecheck(): Tally {
  const p = Bun.spawnSync([join(ROOT, "node_modules/.bin/tsc"), "--noEmit", "-p", "."], { cwd: ROOT, stdout: "pipe", stderr: "pipe" });
  const output = p.stdout.toString() + p.stderr.toString();
  if (p.exitCode !== 0) process.stdout.write(output);
  return { label: "typecheck (tsc --noEmit)", passed: p.exitCode === 0 ? 1 : 0, failed: p.exitCode === 0 ? 0 : 1 };
}

function hostTests(): Tally {
  const p = Bun.spawnSync([BUN, "test", "test/unit"], { cwd: ROOT, stdout: "pipe", stderr: "pipe", env: { ...process.env, NO_COLOR: "1" } });
  const output = p.stdout.toString() + p.stderr.toString();
  process.stdout.write(output);
  const counts = bunCounts(output) ?? { passed: 0, failed: 1 };
  if (p.exitCode !== 0 && counts.failed === 0) counts.failed = 1;
  return { label: "host", ...counts, failures: bunFailures(output) };
}

const isSystemKernel = (k: KernelName): k is SystemKernelName => (SYSTEM_KERNELS as readonly string[]).includes(k);

/** Copies a guest's output to ours line by line as it arrives, each line labelled with its job. */
function lineStreamer(label: string): { onOutput: (chunk: Uint8Array) => void; flush: () => void } {
  const decoder = new TextDecoder();
  let partial = "";
  const emit = (text: string) => {
    const lines = text.split("\n");
    if (lines.at(-1) === "") lines.pop();
    process.stdout.write(lines.map((l) => `[${label}] ${l}\n`).join(""));
  };
  return {
    onOutput(chunk) {
      const text = partial + decoder.decode(chunk, { stream: true });
      const end = text.lastIndexOf("\n");
      partial = text.slice(end + 1);
      if (end >= 0) emit(text.slice(0, end + 1));
    },
    flush() {
      if (partial) emit(`${partial}\n`);
      partial = "";
    },
  };
}

async function systemTally(kernel: SystemKernelName): Promise<Tally> {
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

/**
 * A guest job, retried once only if what hung cannot be a test: it hung
 * before its command printed a single line (no test ran), or the guest did
 * not even answer the dump request (the emulated machine or the host's share
 * froze; CI met both). A test that hangs in a live guest is never retried.
 * The first attempt's console stays in the log and the result line says
 * "retried".
 */
async function guestTests(kernel: KernelName, suites: string[], kernelArgs: string[] = [], label: string = kernel, env: Record<string, string> = {}): Promise<Tally> {
  const first = await guestTestsOnce(kernel, suites, kernelArgs, label, env);
  if (!first.hungSilent) return first;
  const why = first.hungWhy ?? "hung";
  process.stdout.write(`[${label}] ${why}; retrying the job once\n`);
  const again = await guestTestsOnce(kernel, suites, kernelArgs, label, env);
  return { ...again, note: `retried: the first attempt ${why}, its console above; ${again.note ?? ""}` };
}

async function guestTestsOnce(kernel: KernelName, suites: string[], kernelArgs: string[], label: string, env: Record<string, string>): Promise<Tally & { hungSilent?: boolean; hungWhy?: string }> {
  const k = await ensureKernel(kernel);
  const stream = lineStreamer(label);
  try {
    const r = await runInGuest({
      kernel: k,
      argv: [BUN, "test", "--timeout", "300000", ...suites.map((s) => `./${s}`)],
      env: { CGWARDEN_TEST_KERNEL: kernel, CGWARDEN_TEST_BOOT: kernelArgs.join(" "), NO_COLOR: "1", ...env },
      timeoutMs: GUEST_TIMEOUT_MS,
      stallMs: GUEST_STALL_MS,
      kernelArgs,
      onOutput: stream.onOutput,
    });
    stream.flush();
    const counts = bunCounts(r.output);
    if (!counts) {
      process.stdout.write(`--- guest console ---\n${r.consoleTail}\n`);
      return { label, passed: 0, failed: 1, note: `no test summary (exit ${r.exitCode})` };
    }
    if (r.exitCode !== 0 && counts.failed === 0) counts.failed = 1;
    const boot = kernelArgs.length ? `${kernelArgs.join(" ")}; ` : "";
    return { label, ...counts, failures: bunFailures(r.output), note: `${k.description}; ${boot}boot ${(r.bootMs / 1000).toFixed(1)} s, total ${(r.durationMs / 1000).toFixed(1)} s` };
  } catch (e) {
    stream.flush();
    process.stdout.write(`${(e as Error).message}\n`);
    const hungWhy =
      e instanceof GuestHung ? (!e.printedAnything ? "hung before any test printed a line" : !e.dumpAnswered ? "froze: the guest did not answer the dump request" : undefined) : undefined;
    return { label, passed: 0, failed: 1, note: "guest failed: see above", hungSilent: hungWhy !== undefined, hungWhy };
  }
}

async function main(): Promise<number> {
  const opts = parseArgs(process.argv.slice(2));
  const tallies: Tally[] = [];
  // The hook kernel's first build takes about 15 minutes on 2 cores: start it
  // now, so it overlaps the other kernels' suites instead of following them.
  if (opts.kernels.includes("hook-6.12") && opts.kernels[0] !== "hook-6.12") void ensureKernel("hook-6.12");
  build();
  if (!opts.skipHost) tallies.push(typecheck(), hostTests());
  const system = !opts.suites.length || opts.suites.includes(SYSTEM_SUITE);
  const suites = opts.suites.length ? opts.suites.filter((s) => s !== SYSTEM_SUITE) : GUEST_SUITES;
  for (const s of suites) if (!existsSync(join(ROOT, s))) throw new Error(`no suite ${s}`);
  // Per kernel, its guest suites and then its system boots; the kernel
  // whose build may still be running (hook-6.12) comes last.
  const jobs: (() => Promise<Tally>)[] = [];
  const kernelJobs = (kernel: KernelName) => {
    const boot = SUITE_BOOT[kernel] ?? [];
    const label = boot.length ? `${kernel} ${boot.join(" ")}` : kernel;
    if (suites.length) jobs.push(() => guestTests(kernel, suites, boot, label));
    if (system && isSystemKernel(kernel)) jobs.push(() => systemTally(kernel));
  };
  for (const kernel of opts.kernels.filter((k) => k !== "hook-6.12")) kernelJobs(kernel);
  // The one-minute boots that cannot enforce, before the hook kernel's jobs: those wait on its build.
  if (!opts.suites.length) {
    if (opts.kernels.includes("debian-6.12"))
      jobs.push(() => guestTests("debian-6.12", [UNSUPPORTED_SUITE], ["lsm=lockdown,capability"], "debian-6.12 without BPF LSM", { CGWARDEN_TEST_UNSUPPORTED: "no-bpf-lsm" }));
    for (const kernel of CONFIDENTIALITY_UNSUPPORTED.filter((k) => opts.kernels.includes(k)))
      jobs.push(() => guestTests(kernel, [UNSUPPORTED_SUITE], ["lockdown=confidentiality"], `${kernel} lockdown=confidentiality`, { CGWARDEN_TEST_UNSUPPORTED: "lockdown" }));
  }
  if (opts.kernels.includes("hook-6.12")) kernelJobs("hook-6.12");
  tallies.push(...(await inPairs(jobs)));

  // Each failure again where the log's tail shows it: the suites stream
  // thousands of lines, and a CI log is often read from its end.
  const failures = tallies.flatMap((t) => (t.failures ?? []).map((f) => `[${t.label}]\n${f}`));
  if (failures.length) console.log(`\nfailed tests (as bun printed them above):\n${failures.join("\n\n")}`);
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
