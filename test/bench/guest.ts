// Runs inside a guest (see test/bench/run.ts) and prints the three figures,
// each a ratio against a baseline taken in this same run.
import { mkdirSync, writeFileSync, existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { runCli } from "../../cli/main.ts";
import { setSink } from "../../cli/output.ts";
import { openState } from "../../cli/pins/state.ts";
import { PolicyStore } from "../../cli/policy/store.ts";
import { ALL_DIRECTIONS } from "../../cli/policy/abi.ts";
import { resolveCgroup } from "../../cli/kernel/cgroupfs.ts";

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

async function hotPathFigure(): Promise<void> {
  mkdirSync("/tmp/b1/b2/b3/b4/b5", { recursive: true });
  writeFileSync("/tmp/b1/b2/b3/b4/b5/f", "");
  const base: Record<string, number[]> = { stat: [], open: [] };
  const loaded: Record<string, number[]> = { stat: [], open: [] };
  // Alternate unloaded and loaded phases so drift hits both alike.
  for (let round = 0; round < 3; round++) {
    await cgw("unload");
    for (const k of ["stat", "open"] as const) base[k]!.push(...hotpath(k, 5));
    await cgw("load");
    mkdirSync(join(CG, "bench/many"), { recursive: true });
    addLocks(100, 0);
    for (const k of ["stat", "open"] as const) loaded[k]!.push(...hotpath(k, 5));
  }
  for (const k of ["stat", "open"] as const) {
    const b = median(base[k]!);
    const l = median(loaded[k]!);
    console.log(`hot path ${k}(): unloaded ${b.toFixed(0)} ns, loaded with 100 locks ${l.toFixed(0)} ns, overhead ${pct(l / b)} at the median (target <= +3%)`);
  }
}

async function scalingFigure(): Promise<void> {
  await cgw("unload");
  await cgw("load", "--max-locks", "12000");
  mkdirSync(join(CG, "bench/s1"), { recursive: true });
  mkdirSync(join(CG, "bench/s2"), { recursive: true });
  mkdirSync(join(CG, "bench/many"), { recursive: true });
  const sleeper = Bun.spawn(["sleep", "1000"]);
  const bounce = (n: number) => {
    const t0 = performance.now();
    for (let i = 0; i < n; i++) writeFileSync(join(CG, i % 2 ? "bench/s1" : "bench/s2", "cgroup.procs"), String(sleeper.pid));
    return (n / (performance.now() - t0)) * 1000;
  };
  const rates: Record<string, number[]> = {};
  const measure = (label: string) => {
    rates[label] = [1, 2, 3, 4, 5].map(() => bounce(400));
  };
  // Every move is decided in full: /bench is locked within, the runner allowed past it.
  await cgw("lock", "/bench", "--within");
  await cgw("allow", "/bench", "--uid", "0");
  measure("0");
  addLocks(98, 0);
  measure("100");
  addLocks(9900, 98);
  measure("10000");
  sleeper.kill();
  const base = median(rates["0"]!);
  for (const label of ["0", "100", "10000"]) {
    const r = median(rates[label]!);
    console.log(`migrations/s with ${label.padStart(5)} rules: ${r.toFixed(0)} (${pct(r / base)} vs 0 rules${label === "10000" ? "; target >= -10%" : ""})`);
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
  const ours: number[] = [];
  const bpftool: number[] = [];
  for (let i = 0; i < 7; i++) {
    ours.push(time([join(ROOT, "dist/cgwarden"), "lock", "/bench/cli", i % 2 ? "--in" : "--out"]));
    bpftool.push(time(["bpftool", "map", "update", "pinned", `${PIN}/maps/locks`, "key", "hex", ...hex(key), "value", "hex", ...hex(value)]));
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
