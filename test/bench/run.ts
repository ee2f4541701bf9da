#!/usr/bin/env bun
// Benchmarks; prints figures, asserts nothing. Not part of the test run.
//   bun test/bench/run.ts [--kernel debian-6.12|debian-6.1|hook-6.12]... [--startup-only | --mkdir-only | --seal-only]
//
// 1. Start-up, on the host: median wall time of dist/cgwarden commands over a
//    Bun "hello" compiled with the same flags.
// 2. In a TCG guest per kernel (test/bench/guest.ts): hot-path lookups and
//    migrations as guest instructions per operation, counted by a QEMU TCG
//    plugin (test/bench/insn-meter.c) between cpuid markers that
//    dist/test/hotpath executes around its loops; beside them the wall time
//    under TCG, which is indicative only (emulation, shared host).
// --profile: instead of the figures, where a migration's instructions go, by
//    kernel symbol (BPF programs and trampolines named by the guest's
//    kallsyms), unloaded against cgwarden with 100 locks.
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { runInGuest } from "../vm/guest.ts";
import { ensureKernel, isKernelName, KERNEL_NAMES, type KernelName } from "../vm/kernels.ts";
import { ROOT, runShown } from "../../scripts/project.ts";

const OUT = join(ROOT, "dist/test");
const PLUGIN = join(OUT, "insn-meter.so");

const kernels: KernelName[] = [];
const args = process.argv.slice(2);
/** Only the host's start-up figure: no guest, no kernel needed. */
const startupOnly = args.includes("--startup-only");
const profiling = args.includes("--profile");
/** Only the mkdir figure (binding's cost per new cgroup), for a quick look. */
const mkdirOnly = args.includes("--mkdir-only");
/** Only the seal figure (what a sealed machine adds to every write()). */
const sealOnly = args.includes("--seal-only");
for (let i = 0; i < args.length; i++) {
  if (args[i] === "--startup-only" || args[i] === "--profile" || args[i] === "--mkdir-only" || args[i] === "--seal-only") continue;
  const name = args[i] === "--kernel" ? args[++i] : undefined;
  if (!name || !isKernelName(name)) {
    console.error(`usage: bun test/bench/run.ts [--kernel ${KERNEL_NAMES.join("|")}]... [--startup-only | --profile | --mkdir-only | --seal-only]`);
    process.exit(2);
  }
  kernels.push(name);
}
if (kernels.length === 0) kernels.push("debian-6.12");

mkdirSync(OUT, { recursive: true });
runShown([process.execPath, "scripts/build.ts"], "build");
runShown(["cc", "-O2", "-Wall", "-o", "dist/test/hotpath", "test/bench/hotpath.c"], "building hotpath");
runShown([process.env.CLANG ?? "clang-16", "-O2", "-g", "-target", "bpf", "-I/usr/include/x86_64-linux-gnu", "-c", "test/fixtures/floor.bpf.c", "-o", "dist/test/floor.bpf.o"], "building the floor program");
// Plugin API v1 is declared in the source itself (Debian's QEMU ships no header); no glib needed.
runShown(["gcc", "-O2", "-Wall", "-shared", "-fPIC", "-fvisibility=hidden", "-o", PLUGIN, "test/bench/insn-meter.c"], "building the insn-meter plugin");

const fmtInt = (x: number) => Math.round(x).toLocaleString("en-US");
const pct = (ratio: number) => `${ratio >= 1 ? "+" : ""}${((ratio - 1) * 100).toFixed(1)}%`;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? "").length)));
  return rows.map((r) => r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join("  ").trimEnd()).join("\n");
}

/** Start-up on the host: nothing is loaded there, so status and rules report "not loaded". */
function startupFigure(): void {
  const hello = join(OUT, "bench-hello.ts");
  writeFileSync(hello, 'console.log("hello");\n');
  // The same flags as scripts/build.ts gives dist/cgwarden.
  runShown([process.execPath, "build", "--compile", "--bytecode", "--splitting", "--format=esm", "--minify", hello, "--outfile", join(OUT, "bench-hello")], "building the hello executable");
  rmSync(hello);
  const time = (argv: string[]) => {
    const t0 = performance.now();
    const p = Bun.spawnSync(argv, { stdout: "ignore", stderr: "ignore" });
    const ms = performance.now() - t0;
    if (p.exitCode !== 0) throw new Error(`${argv.join(" ")} exited ${p.exitCode}`);
    return ms;
  };
  const cases: [string, string[]][] = [
    ["Bun hello (same build flags)", [join(OUT, "bench-hello")]],
    ["cgwarden --version", [join(ROOT, "dist/cgwarden"), "--version"]],
    ["cgwarden status (not loaded)", [join(ROOT, "dist/cgwarden"), "status"]],
    ["cgwarden rules (not loaded)", [join(ROOT, "dist/cgwarden"), "rules"]],
    // A policy change's whole path short of the kernel: parse, validate, resolve, diff.
    ["cgwarden apply --dry-run (services-stay-put.toml)", [join(ROOT, "dist/cgwarden"), "apply", "--dry-run", join(ROOT, "examples/services-stay-put.toml")]],
  ];
  const samples: number[][] = cases.map(() => []);
  for (const [, argv] of cases) time(argv); // warm the page cache
  for (let i = 0; i < 15; i++) cases.forEach(([, argv], c) => samples[c]!.push(time(argv)));
  const base = median(samples[0]!);
  console.log("\nstart-up on the host (median of 15 runs, wall time)");
  console.log(
    table([
      ["command", "median", "vs hello"],
      ...cases.map(([label], c) => [label, `${median(samples[c]!).toFixed(1)} ms`, c === 0 ? "1.00x" : `${(median(samples[c]!) / base).toFixed(2)}x`]),
    ]),
  );
}

interface MeterRun {
  figure: string;
  phase: string;
  op: string;
  n: number;
  intervals: number;
  ns: number;
}

interface Metered extends MeterRun {
  /** Minimum over the intervals of N and of 2N operations. */
  minN: number;
  min2N: number;
  /** (min2N - minN) / N: the per-operation count, free of the markers' and loop's fixed cost. */
  perOp: number;
  /** Intervals whose count equals the minimum, of each kind (how clean the run was). */
  cleanN: number;
  clean2N: number;
}

/** Pairs the guest's announcements with the plugin log's groups, in order. */
function pairUp(runs: MeterRun[], log: string): Metered[] {
  const groups: number[][] = [];
  for (const line of log.split("\n")) {
    const m = /^insn-meter: (\S+)$/.exec(line);
    if (!m) continue;
    if (m[1] === "group") groups.push([]);
    else groups.at(-1)?.push(Number(m[1]));
  }
  if (groups.length !== runs.length) throw new Error(`insn-meter log has ${groups.length} groups, the guest announced ${runs.length} runs`);
  return runs.map((r, i) => {
    const g = groups[i]!;
    if (g.length !== r.intervals) throw new Error(`insn-meter group ${i} has ${g.length} intervals, expected ${r.intervals}`);
    const nCounts = g.filter((_, k) => k % 2 === 0);
    const twoCounts = g.filter((_, k) => k % 2 === 1);
    const minN = Math.min(...nCounts);
    const min2N = Math.min(...twoCounts);
    return {
      ...r,
      minN,
      min2N,
      perOp: (min2N - minN) / r.n,
      cleanN: nCounts.filter((x) => x === minN).length,
      clean2N: twoCounts.filter((x) => x === min2N).length,
    };
  });
}

const OP_LABEL: Record<string, string> = {
  stat: "stat() of a 6-component path",
  open: "open()+close() of the same path",
  move: "allowed migration (write to cgroup.procs)",
  deny: "denied migration (EPERM)",
  mkdir: "mkdir+rmdir of a cgroup 3 levels below an anchor",
  write: "write() of one byte to /dev/null",
};

function report(kernel: string, metered: Metered[]): void {
  const by = (figure: string, phase: string, op: string) => metered.filter((m) => m.figure === figure && m.phase === phase && m.op === op);
  const count = (ms: Metered[]) => {
    const values = [...new Set(ms.map((m) => m.perOp))];
    return { value: median(ms.map((m) => m.perOp)), spread: values.length > 1 ? `${fmtInt(Math.min(...values))}..${fmtInt(Math.max(...values))}` : "" };
  };
  const wall = (ms: Metered[]) => median(ms.map((m) => m.ns));
  const fmtNs = (ns: number) => (ns >= 1e6 ? `${(ns / 1e6).toFixed(2)} ms` : `${(ns / 1e3).toFixed(1)} µs`);

  console.log(`\n${kernel}: guest instructions per operation (kernel + user, exact: minimum over ${metered[0]?.intervals ?? 0} intervals of 1 and 2 operations, per-op = difference),`);
  console.log("and wall time per operation under TCG emulation (indicative only: emulated, on a shared host)");

  const rows: string[][] = [["operation", "phase", "insns/op", "vs base", "wall/op (TCG)", "vs base"]];
  const add = (op: string, phase: string, base: Metered[], label = OP_LABEL[op]!, figure = op === "stat" || op === "open" ? "hot" : op === "mkdir" ? "mkdir" : op === "write" ? "seal" : "migration", also?: Metered[]) => {
    const ms = by(figure, phase, op);
    if (ms.length === 0) return;
    const c = count(ms);
    const isBase = ms[0] === base[0];
    const b = count(base).value;
    rows.push([
      label,
      phase,
      `${fmtInt(c.value)}${c.spread ? ` (rounds ${c.spread})` : ""}`,
      isBase ? "" : `${c.value - b >= 0 ? "+" : ""}${fmtInt(c.value - b)} (${pct(c.value / b)})`,
      fmtNs(wall(ms)),
      isBase ? "" : pct(wall(ms) / wall(base)),
    ]);
    if (also) {
      const a = count(also).value;
      rows.push(["", "  over the empty program", "", `${c.value - a >= 0 ? "+" : ""}${fmtInt(c.value - a)} (${pct(c.value / a)})`, "", pct(wall(ms) / wall(also))]);
    }
  };
  for (const op of ["stat", "open"]) {
    const base = by("hot", "unloaded", op);
    add(op, "unloaded", base);
    add(op, "empty LSM program", base);
    add(op, "cgwarden, 100 locks", base, OP_LABEL[op], "hot", by("hot", "empty LSM program", op));
  }
  const moveBase = by("migration", "unloaded", "move");
  add("move", "unloaded", moveBase);
  add("move", "cgwarden, 100 locks", moveBase);
  add("move", "cgwarden, 10,000 locks", moveBase);
  add("deny", "cgwarden, 100 locks", moveBase, "denied migration (EPERM; vs the allowed one unloaded)");
  add("deny", "cgwarden, 10,000 locks", moveBase, "denied migration (EPERM; vs the allowed one unloaded)");
  const mkdirBase = by("mkdir", "unloaded", "mkdir");
  for (const phase of ["unloaded", "cgwarden, no rules", "1 recursive template", "16 recursive templates"]) add("mkdir", phase, mkdirBase);
  const writeBase = by("seal", "unloaded", "write");
  for (const phase of ["unloaded", "cgwarden, not sealed", "cgwarden, sealed"]) add("write", phase, writeBase);
  console.log(table(rows));

  const move100 = by("migration", "cgwarden, 100 locks", "move");
  const move10k = by("migration", "cgwarden, 10,000 locks", "move");
  const deny100 = by("migration", "cgwarden, 100 locks", "deny");
  const deny10k = by("migration", "cgwarden, 10,000 locks", "deny");
  if (move100.length && move10k.length) {
    const a = count(move100).value;
    const b = count(move10k).value;
    const da = count(deny100).value;
    const db = count(deny10k).value;
    console.log(
      `10,000 vs 100 locks: allowed migration ${fmtInt(b)} vs ${fmtInt(a)} instructions (${pct(b / a)}), denied ${fmtInt(db)} vs ${fmtInt(da)} (${pct(db / da)}); ` +
        `wall time under TCG ${pct(wall(move10k) / wall(move100))} and ${pct(wall(deny10k) / wall(deny100))}`,
    );
  }
  const lin = by("linearity", "unloaded", "stat")[0];
  const one = by("hot", "unloaded", "stat");
  if (lin && one.length) {
    console.log(
      `meter linearity (stat, unloaded): intervals of ${lin.n} and ${2 * lin.n} lookups, minima ${fmtInt(lin.minN)} and ${fmtInt(lin.min2N)}, ratio ${(lin.min2N / lin.minN).toFixed(4)}; ` +
        `per lookup ${fmtInt(lin.perOp)} there vs ${fmtInt(count(one).value)} from intervals of 1 and 2 (ratio ${(one[0]!.min2N / one[0]!.minN).toFixed(4)}, fixed cost of markers and loop ${fmtInt(2 * one[0]!.minN - one[0]!.min2N)})`,
    );
  }
  const dirty = metered.filter((m) => m.cleanN < 3 || m.clean2N < 3);
  if (dirty.length) console.log(`note: few intervals hit the minimum in ${dirty.map((m) => `${m.phase} ${m.op}`).join(", ")}; those counts are less certain`);
}

interface PolicyRun {
  rules: number;
  apply: number;
  reapply: number;
  bpftool: number;
  writes: number;
}

function policyReport(metered: Metered[], runs: PolicyRun[]): void {
  const p = runs[0];
  if (!p) return;
  const perOp = (phase: string) => median(metered.filter((m) => m.phase === phase && m.op === "move").map((m) => m.perOp));
  const none = perOp("cgwarden, no rules");
  const many = perOp("cgwarden, 10,000 bound rules + 100 templates");
  console.log(
    `policy at scale: apply of a ${fmtInt(p.rules)}-rule file ${(p.apply / 1000).toFixed(2)} s (${fmtInt(p.writes)} map writes), ` +
      `bpftool batch of ${fmtInt(p.rules)} map updates ${(p.bpftool / 1000).toFixed(2)} s, ratio ${(p.apply / p.bpftool).toFixed(2)}x (target <= 3x); ` +
      `re-apply unchanged ${(p.reapply / 1000).toFixed(2)} s (${(p.reapply / p.bpftool).toFixed(2)}x bpftool)`,
  );
  console.log(`allowed migration with 10,000 bound rules + 100 templates vs none: ${fmtInt(many)} vs ${fmtInt(none)} instructions (${pct(many / none)}; target <= +5%)`);
}

/** Names an address by the nearest kallsyms symbol at or below it. */
function symbolizer(kallsyms: string): (addr: bigint) => string {
  const syms = kallsyms
    .split("\n")
    .map((l) => l.split(/\s+/))
    .filter((f) => f.length >= 3 && /^[0-9a-f]{16}$/.test(f[0]!) && f[0] !== "0000000000000000")
    .map((f) => ({ addr: BigInt(`0x${f[0]}`), name: f[2]!.replace(/^bpf_prog_[0-9a-f]{16}_/, "bpf:") }))
    .sort((a, b) => (a.addr < b.addr ? -1 : a.addr > b.addr ? 1 : 0));
  return (addr) => {
    if (addr < 0x8000000000000000n) return "(user)";
    let lo = 0;
    let hi = syms.length - 1;
    if (hi < 0 || addr < syms[0]!.addr) return "(unknown)";
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (syms[mid]!.addr <= addr) lo = mid;
      else hi = mid - 1;
    }
    return syms[lo]!.name;
  };
}

/** Per-operation instructions by symbol, for each metered run, and the migration's difference. */
function profileReport(kernel: string, runs: MeterRun[], log: string, kallsyms: string): void {
  const name = symbolizer(kallsyms);
  // A group's profile is printed when the next group starts, or at exit.
  const profiles: Map<string, number>[] = [];
  let current = new Map<string, number>();
  let groups = 0;
  for (const line of log.split("\n")) {
    const p = /^insn-profile: ([0-9a-f]+) (\d+)$/.exec(line);
    if (p) {
      const sym = name(BigInt(`0x${p[1]}`));
      current.set(sym, (current.get(sym) ?? 0) + Number(p[2]));
    } else if (line === "insn-meter: group") {
      if (groups > 0) profiles.push(current);
      current = new Map();
      groups++;
    }
  }
  profiles.push(current);
  const perOp = (i: number) => {
    const r = runs[i]!;
    const ops = (r.intervals / 2) * r.n * 3; // intervals of n and 2n alternate
    return new Map([...profiles[i]!].map(([k, v]) => [k, v / ops]));
  };
  const find = (phase: string, op: string) => runs.findIndex((r) => r.phase === phase && r.op === op);
  // Binding's own cost per new cgroup: the instructions inside cgwarden's mkdir and rmdir programs, exact.
  const mkdirPhases = [...new Set(runs.filter((r) => r.op === "mkdir").map((r) => r.phase))];
  if (mkdirPhases.length) {
    const rows = mkdirPhases.map((phase) => {
      const ps = perOp(find(phase, "mkdir"));
      const sum = (re: RegExp) => [...ps].filter(([k]) => re.test(k)).reduce((a, [, v]) => a + v, 0);
      const prog = sum(/^bpf:(cgwarden_mkdir|match_template|cgwarden_rmdir)$/);
      return [phase, fmtInt(sum(/^bpf:(cgwarden_mkdir|match_template)$/)), fmtInt(sum(/^bpf:cgwarden_rmdir$/)), fmtInt(prog), fmtInt([...ps.values()].reduce((a, b) => a + b, 0))];
    });
    console.log(`\n${kernel}: binding's cost per new cgroup (mkdir+rmdir 3 levels below an anchor), instructions inside cgwarden's programs`);
    console.log(table([["phase", "mkdir program", "rmdir program", "both", "whole mkdir+rmdir"], ...rows]));
  }
  if (find("unloaded", "move") < 0) return;
  const base = perOp(find("unloaded", "move"));
  console.log(`\n${kernel}: instructions per operation by symbol (sums over all intervals, interrupts included; markers and loop alike in every column)`);
  for (const op of ["move", "deny"]) {
    const loaded = perOp(find("cgwarden, 100 locks", op));
    const syms = [...new Set([...base.keys(), ...loaded.keys()])];
    const rows = syms
      .map((s) => ({ s, a: base.get(s) ?? 0, b: loaded.get(s) ?? 0 }))
      .filter((r) => Math.abs(r.b - r.a) >= 5)
      .sort((x, y) => Math.abs(y.b - y.a) - Math.abs(x.b - x.a));
    const total = (m: Map<string, number>) => [...m.values()].reduce((a, b) => a + b, 0);
    console.log(`\n${OP_LABEL[op]}: unloaded allowed migration ${fmtInt(total(base))}, cgwarden ${fmtInt(total(loaded))}`);
    console.log(table([["symbol", "unloaded move", `cgwarden ${op}`, "difference"], ...rows.map((r) => [r.s, fmtInt(r.a), fmtInt(r.b), fmtInt(r.b - r.a)])]));
  }
}

if (!profiling) startupFigure();
if (startupOnly) process.exit(0);

for (const name of kernels) {
  const log = join(OUT, `insn-meter-${name}.log`);
  rmSync(log, { force: true });
  const runs: MeterRun[] = [];
  const policyRuns: PolicyRun[] = [];
  let pending = "";
    const kallsyms: string[] = [];
  // Progress and the CLI figure stream through; @meter lines are collected.
  const onOutput = (chunk: Uint8Array) => {
    pending += new TextDecoder().decode(chunk);
    const lines = pending.split("\n");
    pending = lines.pop()!;
    for (const line of lines) {
      if (line.startsWith("@kallsyms ")) kallsyms.push(line.slice(10));
      else if (line.startsWith("@meter ")) runs.push(JSON.parse(line.slice(7)) as MeterRun);
      else if (line.startsWith("@policy ")) policyRuns.push(JSON.parse(line.slice(8)) as PolicyRun);
      else console.log(line);
    }
  };
  console.log(`\n== ${name}`);
  const r = await runInGuest({
    kernel: await ensureKernel(name),
    argv: [process.execPath, "test/bench/guest.ts", ...(profiling ? ["--profile"] : []), ...(mkdirOnly ? ["--mkdir-only"] : []), ...(sealOnly ? ["--seal-only"] : [])],
    env: { CGWARDEN_TEST_KERNEL: name, NO_COLOR: "1" },
    timeoutMs: 30 * 60_000,
    onOutput,
    // One vCPU (the harness's -smp 1): the plugin's counter is global.
    qemuArgs: ["-plugin", profiling ? `${PLUGIN},profile=on` : PLUGIN, "-d", "plugin", "-D", log],
  });
  if (pending) console.log(pending);
  if (r.exitCode !== 0) {
    console.error(`guest benchmark on ${name} exited ${r.exitCode}`);
    process.exitCode = r.exitCode;
    continue;
  }
  if (!existsSync(log)) throw new Error(`QEMU wrote no insn-meter log (${log})`);
  const metered = pairUp(runs, readFileSync(log, "utf8"));
  if (profiling) {
    profileReport(name, runs, readFileSync(log, "utf8"), kallsyms.join("\n"));
    // The plugin's attribution runs on the host: the guest's counts are the exact ones still.
    for (const m of metered) console.log(`exact: ${m.phase}, ${OP_LABEL[m.op]}: ${fmtInt(m.perOp)} instructions per operation`);
    continue;
  }
  report(name, metered);
  policyReport(metered, policyRuns);
}
