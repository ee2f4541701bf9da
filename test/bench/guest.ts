// Runs inside a guest (see test/bench/run.ts) and prints the three figures,
// each a ratio against a baseline taken in this same run.
import { chmodSync, copyFileSync, existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { runCli } from "../../cli/main.ts";
import { setSink } from "../../cli/output.ts";
import { openState } from "../../cli/pins/state.ts";
import { PolicyStore } from "../../cli/policy/store.ts";
import { ALL_DIRECTIONS } from "../../cli/policy/abi.ts";
import { resolveCgroup } from "../../cli/kernel/cgroupfs.ts";
import { BpfObject, type Link } from "../../cli/libbpf/index.ts";
import { objectBytes } from "../../cli/embedded.ts";
import { PROBES } from "../../cli/mechanism.ts";

const ROOT = resolve(import.meta.dir, "../..");
const CG = "/sys/fs/cgroup";
const PIN = "/sys/fs/bpf/cgwarden";
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const pct = (ratio: number) => `${ratio >= 1 ? "+" : ""}${((ratio - 1) * 100).toFixed(1)}%`;

async function cgw(...args: string[]): Promise<void> {
  setSink({ out: () => {}, err: () => {} });
  try {
    const code = await runCli(args);
    if (code !== 0) throw new Error(`cgwarden ${args.join(" ")} exited ${code}`);
  } finally {
    setSink(null);
  }
}

function run(argv: string[]): string {
  const p = Bun.spawnSync(argv, { stdout: "pipe", stderr: "pipe" });
  if (p.exitCode !== 0) throw new Error(`${argv.join(" ")}: ${p.stderr.toString()}`);
  return p.stdout.toString();
}

/** Adds n locks on fresh cgroups under /bench/many, straight through the store. */
function addLocks(n: number, from: number): void {
  const state = openState(PIN)!;
  const store = new PolicyStore(state);
  for (let i = from; i < from + n; i++) {
    const dir = join(CG, "bench/many", `c${i}`);
    if (!existsSync(dir)) mkdirSync(dir);
    const ref = resolveCgroup(dir);
    store.setLock({ id: ref.id, path: ref.path }, ALL_DIRECTIONS, "enforce");
  }
  state.close();
}

function hotpath(kind: "stat" | "open", repeats: number): number[] {
  const bin = join(ROOT, "dist/test/hotpath");
  // A six-component path on tmpfs: every lookup runs inode_permission on each component.
  const path = "/tmp/b1/b2/b3/b4/b5/f";
  return run([bin, kind, "20000", String(repeats), path]).trim().split("\n").map(Number);
}

/**
 * The floor: an LSM program on inode_permission that does nothing at all (the
 * load probe of `check`). Whatever it costs is the kernel's trampoline, which
 * any program at that hook pays; cgwarden's own cost is what it adds on top.
 */
async function attachEmptyLsmProgram(): Promise<{ detach: () => void }> {
  const obj = BpfObject.openMem(await objectBytes(), "bench_floor");
  for (const p of obj.programs()) p.setAutoload(p.name === PROBES.lsm);
  obj.load();
  const link: Link = obj.program(PROBES.lsm).attach();
  return { detach: () => (link.destroy(), obj.close()) };
}

async function hotPathFigure(): Promise<void> {
  mkdirSync("/tmp/b1/b2/b3/b4/b5", { recursive: true });
  writeFileSync("/tmp/b1/b2/b3/b4/b5/f", "");
  const phases = ["unloaded", "empty LSM program", "cgwarden, 100 locks"] as const;
  const results: Record<string, Record<string, number[]>> = Object.fromEntries(phases.map((p) => [p, { stat: [], open: [] }]));
  const measure = (phase: string) => {
    for (const k of ["stat", "open"] as const) results[phase]![k]!.push(...hotpath(k, 3));
  };
  // Rounds alternate the phases so that drift hits all of them alike.
  for (let round = 0; round < 3; round++) {
    await cgw("unload");
    measure("unloaded");
    const floor = await attachEmptyLsmProgram();
    measure("empty LSM program");
    floor.detach();
    await cgw("load");
    mkdirSync(join(CG, "bench/many"), { recursive: true });
    addLocks(100, 0);
    measure("cgwarden, 100 locks");
  }
  for (const k of ["stat", "open"] as const) {
    const base = median(results.unloaded![k]!);
    const floor = median(results["empty LSM program"]![k]!);
    const ours = median(results["cgwarden, 100 locks"]![k]!);
    console.log(
      `hot path ${k}() of a 6-component path: unloaded ${base.toFixed(0)} ns; empty LSM program ${floor.toFixed(0)} ns (${pct(floor / base)}); ` +
        `cgwarden with 100 locks ${ours.toFixed(0)} ns (${pct(ours / base)} vs unloaded, target <= +3%; ${pct(ours / floor)} vs the empty program)`,
    );
  }
}

async function scalingFigure(): Promise<void> {
  await cgw("unload");
  await cgw("load", "--max-locks", "12000");
  for (const d of ["bench/s1", "bench/s2", "bench/many", "bench/actor"]) mkdirSync(join(CG, d), { recursive: true });
  // The C mover does the moves, so the figure is the kernel's, not the benchmark loop's.
  const mover = Bun.spawn([join(ROOT, "dist/test/mover"), "--cgroup", join(CG, "bench/actor")], { stdin: "pipe", stdout: "pipe" });
  const reader = (mover.stdout as ReadableStream<Uint8Array>).getReader();
  let buffered = "";
  const line = async () => {
    while (!buffered.includes("\n")) buffered += new TextDecoder().decode((await reader.read()).value);
    const [first, ...rest] = buffered.split("\n");
    buffered = rest.join("\n");
    return first!;
  };
  await line(); // ready
  const sleeper = Bun.spawn(["sleep", "1000"]);
  const bounce = async (n: number) => {
    const t0 = performance.now();
    (mover.stdin as import("bun").FileSink).write(`bounce ${sleeper.pid} ${join(CG, "bench/s1")} ${join(CG, "bench/s2")} ${n}\n`);
    await (mover.stdin as import("bun").FileSink).flush();
    const reply = await line();
    if (reply !== "ok 0") throw new Error(`bounce failed: ${reply}`);
    return (n / (performance.now() - t0)) * 1000;
  };
  const rates: Record<string, number[]> = {};
  const measure = async (label: string) => {
    await bounce(500); // warm up
    rates[label] = [];
    for (let i = 0; i < 7; i++) rates[label]!.push(await bounce(500));
  };
  // Every move is decided in full: /bench is locked within, the mover (root) allowed past it.
  await cgw("lock", "/bench", "--within");
  await cgw("allow", "/bench", "--uid", "0");
  await measure("2");
  addLocks(98, 0);
  await measure("100");
  addLocks(9900, 98);
  await measure("10000");
  sleeper.kill();
  mover.kill();
  const base = median(rates["2"]!);
  for (const label of ["2", "100", "10000"]) {
    const r = median(rates[label]!);
    console.log(`migrations/s with ${label.padStart(5)} rules: ${r.toFixed(0)} (${pct(r / base)} vs 2 rules${label === "10000" ? "; target >= -10%" : ""})`);
  }
}

async function cliFigure(): Promise<void> {
  mkdirSync(join(CG, "bench/cli"), { recursive: true });
  const id = resolveCgroup(join(CG, "bench/cli")).id;
  const key = Buffer.alloc(8);
  key.writeBigUInt64LE(id);
  const hex = (b: Buffer) => [...b].map((x) => x.toString(16).padStart(2, "0")).join(" ").split(" ");
  const value = Buffer.from([1, 0, 0, 0, 7, 0, 0, 0]);
  const time = (argv: string[]) => {
    const t0 = performance.now();
    run(argv);
    return performance.now() - t0;
  };
  // Both programs run from tmpfs, as from a page-cached disk: the guest reads the
  // host's files over uncached virtiofs, which would charge the 100 MB executable's
  // every start to the comparison.
  copyFileSync(join(ROOT, "dist/cgwarden"), "/tmp/cgwarden");
  copyFileSync(Bun.which("bpftool")!, "/tmp/bpftool");
  chmodSync("/tmp/cgwarden", 0o755);
  chmodSync("/tmp/bpftool", 0o755);
  const ours: number[] = [];
  const bpftool: number[] = [];
  for (let i = 0; i < 7; i++) {
    ours.push(time(["/tmp/cgwarden", "lock", "/bench/cli", i % 2 ? "--in" : "--out"]));
    bpftool.push(time(["/tmp/bpftool", "map", "update", "pinned", `${PIN}/maps/locks`, "key", "hex", ...hex(key), "value", "hex", ...hex(value)]));
  }
  const o = median(ours);
  const b = median(bpftool);
  console.log(`CLI latency: cgwarden lock ${o.toFixed(0)} ms, bpftool map update ${b.toFixed(0)} ms, ratio ${(o / b).toFixed(1)}x (target <= 3x)`);
}

console.log(`benchmarks on ${process.env.CGWARDEN_TEST_KERNEL ?? "this kernel"} (TCG guest, 1 vCPU; ratios within one run)`);
await hotPathFigure();
await scalingFigure();
await cliFigure();
await cgw("unload");
