// Runs inside a guest (see test/bench/run.ts). Every kernel-path figure is
// measured twice by dist/test/hotpath: as wall time (timed loop; under TCG,
// indicative only) and as guest instructions per operation, counted by the
// insn-meter QEMU plugin between cpuid markers (test/bench/insn-meter.c).
// The plugin's counts land in QEMU's log on the host, so this side only
// announces each metered run with a line
//   @meter {"figure":..,"phase":..,"op":..,"n":..,"intervals":..,"ns":..}
// in the order the runs happen; run.ts pairs them with the log's groups and
// prints the table. Plain lines are progress and the CLI figure.
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { runCli } from "../../cli/main.ts";
import { setSink } from "../../cli/output.ts";
import { openState } from "../../cli/pins/state.ts";
import { PolicyStore } from "../../cli/pins/store.ts";
import { ALL_DIRECTIONS } from "../../cli/object/abi.ts";
import { resolveCgroup } from "../../cli/kernel/cgroupfs.ts";
import { BpfObject, onMapWrite, type Link } from "../../cli/libbpf/index.ts";
import { ROOT, runOk } from "../../scripts/project.ts";

const HOTPATH = join(ROOT, "dist/test/hotpath");
const CG = "/sys/fs/cgroup";
const PIN = "/sys/fs/bpf/cgwarden";
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

// The lookups run chrooted into a tmpfs directory: the guest's / is the host's
// over virtiofs, and a walk from there goes through FUSE's dentry
// revalidation (with cache=none, a round trip to the host: some 25,000
// instructions and 0.25 ms under TCG), which would bury the cost being
// measured. Six components, all tmpfs, whatever the share's cache mode.
const LOOKUP_ROOT = "/tmp/bench-root";
const LOOKUP_PATH = "/b1/b2/b3/b4/b5/f";

/** Metered runs per phase: intervals of N and 2N operations, alternating. */
const INTERVALS = 100;
const ROUNDS = 2;

async function cgw(...args: string[]): Promise<void> {
  setSink({ out: () => {}, err: () => {} });
  try {
    const code = await runCli(args);
    if (code !== 0) throw new Error(`cgwarden ${args.join(" ")} exited ${code}`);
  } finally {
    setSink(null);
  }
}

type Op = "stat" | "open" | "move" | "deny" | "mkdir" | "write";

/** The cgroup the mkdir figure creates and removes: three levels below the recursive templates' anchor. */
const MKDIR_ANCHOR = "bench/mk";
const MKDIR_TARGET = `${MKDIR_ANCHOR}/a.slice/b.slice/x.service`;

/** One metered hotpath run, announced for run.ts. */
function meter(figure: string, phase: string, op: Op, opts: { n?: number; timed: number }): void {
  const n = opts.n ?? 1;
  const args =
    op === "stat" || op === "open"
      ? [LOOKUP_PATH, LOOKUP_ROOT]
      : op === "mkdir"
        ? [join(CG, MKDIR_TARGET)]
        : op === "write"
          ? ["/dev/null"]
          : [join(CG, "bench/s1"), join(CG, op === "move" ? "bench/s2" : "bench/deny")];
  const out = runOk([HOTPATH, "meter", op, String(n), String(INTERVALS), String(opts.timed), ...args]);
  const ns = Number(/^ns (\S+)$/m.exec(out)?.[1]);
  const intervals = Number(/^intervals (\d+)$/m.exec(out)?.[1]);
  console.log(`@meter ${JSON.stringify({ figure, phase, op, n, intervals, ns })}`);
}

/** Adds n locks on fresh cgroups under /bench/many, in one change through the store. */
function addLocks(n: number, from: number): void {
  const state = openState(PIN, "write")!;
  const store = new PolicyStore(state);
  const spec = store.spec();
  for (let i = from; i < from + n; i++) {
    const dir = join(CG, "bench/many", `c${i}`);
    if (!existsSync(dir)) mkdirSync(dir);
    spec.rules.push({ kind: "lock", path: resolveCgroup(dir).path, directions: ALL_DIRECTIONS, mode: "enforce" });
  }
  store.replace(spec);
  state.close();
}

/**
 * The floor: an LSM program on inode_permission that does nothing at all
 * (test/fixtures/floor.bpf.c). Whatever it costs is the kernel's trampoline,
 * which any program at that hook pays; cgwarden's own cost is what it adds on top.
 */
async function attachEmptyLsmProgram(): Promise<{ detach: () => void }> {
  const obj = BpfObject.openMem(new Uint8Array(readFileSync(join(ROOT, "dist/test/floor.bpf.o"))), "bench_floor");
  obj.load();
  const link: Link = obj.program("floor_inode_permission").attach();
  return { detach: () => (link.destroy(), obj.close()) };
}

const hot = (phase: string) => {
  meter("hot", phase, "stat", { timed: 20000 });
  meter("hot", phase, "open", { timed: 20000 });
};
const migrations = (phase: string, denied: boolean) => {
  meter("migration", phase, "move", { timed: 1000 });
  if (denied) meter("migration", phase, "deny", { timed: 1000 });
};

/**
 * 100 locks, as the hot-path figure has always used: /bench within (every
 * move between /bench/s1 and /bench/s2 is decided in full, root allowed past
 * it by one allow rule), /bench/deny in (nothing may enter: the denied
 * migration), and 98 on /bench/many/c*.
 */
async function loadWith100Locks(): Promise<void> {
  await cgw("load", "--max-locks", "12000");
  await cgw("lock", "/bench", "--within");
  await cgw("allow", "/bench", "--uid", "0");
  await cgw("lock", "/bench/deny", "--in");
  addLocks(98, 0);
}

async function kernelFigures(): Promise<void> {
  mkdirSync(join(LOOKUP_ROOT, "b1/b2/b3/b4/b5"), { recursive: true });
  writeFileSync(join(LOOKUP_ROOT, LOOKUP_PATH), "");
  for (const d of ["bench/s1", "bench/s2", "bench/deny", "bench/many"]) mkdirSync(join(CG, d), { recursive: true });
  // Linearity of the meter: N=16 and 2N=32 lookups per interval.
  meter("linearity", "unloaded", "stat", { n: 16, timed: 0 });
  // Rounds alternate the phases so that drift in wall time hits all alike;
  // instruction counts do not drift, the rounds must agree.
  for (let round = 0; round < ROUNDS; round++) {
    console.log(`round ${round + 1}/${ROUNDS}`);
    await cgw("unload");
    hot("unloaded");
    migrations("unloaded", false);
    const floor = await attachEmptyLsmProgram();
    hot("empty LSM program");
    floor.detach();
    await loadWith100Locks();
    hot("cgwarden, 100 locks");
    migrations("cgwarden, 100 locks", true);
  }
  console.log("adding 9,900 locks");
  addLocks(9900, 98);
  for (let round = 0; round < ROUNDS; round++) migrations("cgwarden, 10,000 locks", true);
}

/**
 * What binding costs a new cgroup: mkdir+rmdir of a service three levels
 * below an anchor, unloaded, loaded with no rules, and with 1 and 16
 * recursive templates in force there (the service matches the last of the
 * 16, so every one is tried).
 */
async function mkdirFigures(profile = false): Promise<void> {
  mkdirSync(join(CG, MKDIR_ANCHOR, "a.slice/b.slice"), { recursive: true });
  const templates = (n: number) => {
    const lines = Array.from({ length: n }, (_, i) => `[[lock]]\npath = "/${MKDIR_ANCHOR}/**/*.${i === n - 1 ? "service" : `unit${i}`}"\ndirections = ["in"]\n`);
    writeFileSync("/tmp/bench-mkdir.toml", lines.join("\n"));
    return "/tmp/bench-mkdir.toml";
  };
  // A profile names the programs by their addresses in one load: one round, and the symbols before unload.
  if (profile) writeFileSync("/proc/sys/net/core/bpf_jit_kallsyms", "1");
  for (let round = 0; round < (profile ? 1 : ROUNDS); round++) {
    await cgw("unload");
    meter("mkdir", "unloaded", "mkdir", { timed: 200 });
    await cgw("load");
    meter("mkdir", "cgwarden, no rules", "mkdir", { timed: 200 });
    await cgw("apply", templates(1));
    meter("mkdir", "1 recursive template", "mkdir", { timed: 200 });
    await cgw("apply", templates(16));
    meter("mkdir", "16 recursive templates", "mkdir", { timed: 200 });
  }
  if (profile) console.log(readFileSync("/proc/kallsyms", "utf8").split("\n").filter((l) => / [tT] /.test(l)).map((l) => `@kallsyms ${l}`).join("\n"));
  await cgw("unload");
}

/**
 * What a seal costs every write(): the seal's lsm/file_permission program
 * (kernel.ftrace_enabled) runs on each, and stops at its first test for
 * anything but a write to procfs. Unsealed, it is not attached at all.
 * The manager is a copy of sh, which forks cgwarden to unseal.
 */
async function sealFigures(): Promise<void> {
  copyFileSync("/bin/sh", "/tmp/bench-manager");
  chmodSync("/tmp/bench-manager", 0o755);
  for (let round = 0; round < ROUNDS; round++) {
    await cgw("unload");
    meter("seal", "unloaded", "write", { timed: 2000 });
    await cgw("load");
    meter("seal", "cgwarden, not sealed", "write", { timed: 2000 });
    // Through the executable: the seal names the binary a manager's child runs (this process is bun).
    runOk([join(ROOT, "dist/cgwarden"), "seal", "--manager-exe", "/tmp/bench-manager"]);
    meter("seal", "cgwarden, sealed", "write", { timed: 2000 });
    runOk(["/tmp/bench-manager", "-c", `${join(ROOT, "dist/cgwarden")} unseal; true`]);
  }
  await cgw("unload");
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
    runOk(argv);
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
  for (let i = 0; i < 3; i++) {
    ours.push(time(["/tmp/cgwarden", "lock", "/bench/cli", i % 2 ? "--in" : "--out"]));
    bpftool.push(time(["/tmp/bpftool", "map", "update", "pinned", `${PIN}/maps/locks`, "key", "hex", ...hex(key), "value", "hex", ...hex(value)]));
  }
  const o = median(ours);
  const b = median(bpftool);
  console.log(`CLI latency in the guest (wall time under TCG): cgwarden lock ${o.toFixed(0)} ms, bpftool map update ${b.toFixed(0)} ms, ratio ${(o / b).toFixed(1)}x (target <= 3x)`);
}

/**
 * Policy as code at scale: a 10,000-rule file (10,000 locks on existing
 * cgroups, bound) plus 100 templates, applied in one process, against
 * `bpftool batch file` making 10,000 map updates in the same guest; the
 * same file re-applied; and an allowed migration with that policy loaded
 * against one with no rules at all.
 */
async function policyFigures(): Promise<void> {
  await cgw("unload");
  await cgw("load", "--max-locks", "12000", "--max-rules", "1000");
  for (let round = 0; round < ROUNDS; round++) meter("migration", "cgwarden, no rules", "move", { timed: 1000 });
  const lines: string[] = [];
  for (let i = 0; i < 10_000; i++) {
    const dir = join(CG, "bench/many", `c${i}`);
    if (!existsSync(dir)) mkdirSync(dir);
    lines.push(`[[lock]]\npath = "/bench/many/c${i}"\ndirections = ["out"]\n`);
  }
  for (let t = 0; t < 100; t++) {
    mkdirSync(join(CG, "bench/tpl", `t${t}`, "a.service"), { recursive: true });
    lines.push(`[[lock]]\npath = "/bench/tpl/t${t}/*.service"\ndirections = ["out"]\n`);
  }
  const file = "/tmp/bench-policy.toml";
  writeFileSync(file, lines.join("\n"));
  const timed = async (what: () => Promise<void>) => {
    const t0 = performance.now();
    await what();
    return performance.now() - t0;
  };
  let writes = 0;
  onMapWrite(() => void writes++);
  const apply = await timed(() => cgw("apply", file));
  onMapWrite(null);
  const reapply = await timed(() => cgw("apply", file));
  // bpftool: the same number of updates as rules, on a hash map of the locks map's shape.
  runOk(["bpftool", "map", "create", "/sys/fs/bpf/bench-batch", "type", "hash", "key", "8", "value", "8", "entries", "20000", "name", "bench_batch"]);
  const batch = Array.from({ length: 10_100 }, (_, i) => {
    const k = Buffer.alloc(8);
    k.writeBigUInt64LE(BigInt(i + 1));
    const hex = [...k].map((x) => x.toString(16).padStart(2, "0")).join(" ");
    return `map update pinned /sys/fs/bpf/bench-batch key hex ${hex} value hex 01 00 00 00 02 00 00 00`;
  });
  writeFileSync("/tmp/bench-batch.txt", `${batch.join("\n")}\n`);
  copyFileSync(Bun.which("bpftool")!, "/tmp/bpftool");
  chmodSync("/tmp/bpftool", 0o755);
  const bpftool = await timed(async () => void runOk(["/tmp/bpftool", "batch", "file", "/tmp/bench-batch.txt"]));
  runOk(["rm", "-f", "/sys/fs/bpf/bench-batch"]);
  console.log(
    `@policy ${JSON.stringify({ rules: 10_100, apply, reapply, bpftool, writes })}`,
  );
  for (let round = 0; round < ROUNDS; round++) meter("migration", "cgwarden, 10,000 bound rules + 100 templates", "move", { timed: 1000 });
}

/**
 * --profile: where a migration's instructions go. The same metered runs, with
 * the plugin also attributing every block to its address. The guest's text
 * symbols (BPF programs and trampolines included) follow as @kallsyms lines
 * for run.ts to name them: / is read-only here.
 */
async function profileFigures(): Promise<void> {
  for (const d of ["bench/s1", "bench/s2", "bench/deny", "bench/many"]) mkdirSync(join(CG, d), { recursive: true });
  writeFileSync("/proc/sys/net/core/bpf_jit_kallsyms", "1");
  await cgw("unload");
  migrations("unloaded", false);
  await loadWith100Locks();
  migrations("cgwarden, 100 locks", true);
  const text = readFileSync("/proc/kallsyms", "utf8").split("\n").filter((l) => / [tT] /.test(l));
  console.log(text.map((l) => `@kallsyms ${l}`).join("\n"));
}

console.log(`benchmarks on ${process.env.CGWARDEN_TEST_KERNEL ?? "this kernel"} (TCG guest, 1 vCPU)`);
if (process.argv.includes("--mkdir-only")) {
  await mkdirFigures(process.argv.includes("--profile"));
} else if (process.argv.includes("--seal-only")) {
  await sealFigures();
} else if (process.argv.includes("--profile")) {
  await profileFigures();
} else {
  await kernelFigures();
  await mkdirFigures();
  await sealFigures();
  await cliFigure();
  await policyFigures();
}
await cgw("unload");
