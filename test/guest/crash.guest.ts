// Crash safety: a policy command killed before any one of its map writes
// leaves the live policy exactly old or new (a change writes the other
// epoch and flips to it in one write; pins/store.ts), and running the same
// command again completes it with nothing left behind.
//
// Most kills are made in-process: onMapWrite() stops the command before its
// Nth write and refuses every write after it, undo included, which is what
// a SIGKILL on that bpf(2) call leaves behind. A sample is repeated with the
// real binary and a real SIGKILL (CGWARDEN_KILL_BEFORE_WRITE) to show the
// two end the same way.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { onMapWrite } from "../../cli/libbpf/index.ts";
import { openState } from "../../cli/pins/state.ts";
import { PolicyStore } from "../../cli/pins/store.ts";
import { directionNames } from "../../cli/object/abi.ts";
import { BINARY, MOVER, PIN_DIR, cgw, cleanup, json, mkcg, ok } from "./harness.ts";

afterAll(cleanup);

/**
 * Kills beyond one at every write of every scenario: repeats of points
 * already covered (a scenario writes the same maps in the same order each
 * run), so none by default; set it to repeat some at random.
 */
const EXTRA_KILLS = Number(process.env.CGWARDEN_CRASH_EXTRA_KILLS ?? 0);
const REAL_KILLS = Number(process.env.CGWARDEN_CRASH_REAL_KILLS ?? 5);
const A = "/cgw/crash/a";
const B = "/cgw/crash/b";

interface Scenario {
  name: string;
  /** Brings an empty policy to the scenario's starting point. */
  before: () => Promise<void>;
  /** The command that gets killed, then run again. */
  command: () => Promise<string[]>;
}

const ruleId = async (kind: string, cgroup: string): Promise<string> => {
  const r = (await json("rules")).rules.find((x: any) => x.kind === kind && x.path === cgroup);
  if (!r) throw new Error(`no ${kind} rule at ${cgroup}`);
  return String(r.id);
};

const SCENARIOS: Scenario[] = [
  { name: "new lock", before: async () => {}, command: async () => ["lock", A, "--out"] },
  { name: "lock --out to --in --out", before: async () => void (await ok("lock", A, "--out")), command: async () => ["lock", A, "--in", "--out"] },
  { name: "lock to audit mode", before: async () => void (await ok("lock", A, "--out")), command: async () => ["lock", A, "--out", "--audit"] },
  {
    name: "new allow",
    before: async () => void (await ok("lock", A, "--out")),
    command: async () => ["allow", A, "--exe", MOVER],
  },
  {
    name: "second allow, two selectors",
    before: async () => {
      await ok("lock", A, "--out");
      await ok("allow", A, "--uid", "0");
    },
    command: async () => ["allow", A, "--uid", "4321", "--exe", MOVER],
  },
  { name: "new delegate", before: async () => void (await ok("delegate", B, "--uid", "1234")), command: async () => ["delegate", A, "--cgroup", B] },
  {
    name: "remove an allow",
    before: async () => {
      await ok("lock", A, "--out");
      await ok("allow", A, "--uid", "0");
      await ok("allow", A, "--exe", MOVER);
    },
    command: async () => ["remove", await ruleId("allow", A)],
  },
  {
    name: "remove a lock",
    before: async () => void (await ok("lock", A, "--in")),
    command: async () => ["remove", await ruleId("lock", A)],
  },
  {
    name: "unlock",
    before: async () => {
      await ok("lock", A, "--out");
      await ok("allow", A, "--uid", "0");
    },
    command: async () => ["unlock", A],
  },
];

/** The live policy as the kernel reads it, without ids or slots, which a rerun may legitimately change. */
function livePolicy(): string {
  const state = openState(PIN_DIR);
  if (!state) return "not loaded";
  try {
    const p = new PolicyStore(state).livePolicy();
    // Node ids carry the epoch, which every change flips: compare by the paths they stand for.
    const path = (node: bigint) => p.nodePaths?.get(node) ?? `unnamed node ${node}`;
    const locks = [...p.locks.values()].map((l) => `lock ${path(l.node)} ${directionNames(l.directions)} ${l.mode}`);
    const gates = p.gates.map((g) => {
      const sel = { ...g.selectors, ...(g.selectors.cgroup !== undefined ? { cgroup: path(g.selectors.cgroup) } : {}) };
      return `${g.kind} ${path(g.anchor)} ${JSON.stringify(sel, (_, v) => (typeof v === "bigint" ? String(v) : v))}`;
    });
    const bound = [...p.bound].map(([cg, b]) => `bound ${cg}: ${[b.exact, b.matched].filter((n) => n).map(path).join(" + ")}`);
    return [`mode ${p.globalMode}`, ...locks.sort(), ...gates.sort(), ...bound.sort()].join("\n");
  } finally {
    state.close();
  }
}

/** Every map that holds policy, raw, to prove a reset leaves nothing behind. */
function leftovers(): string[] {
  const state = openState(PIN_DIR);
  if (!state) return [];
  try {
    const out: string[] = [];
    for (const name of ["locks", "gates", "selectors", "rules", "paths", "templates", "bound", "node_stats"] as const) {
      const n = [...state.maps[name].keys(state.maps[name].info().keySize)].length;
      if (n) out.push(`${name}: ${n} entries`);
    }
    return out;
  } finally {
    state.close();
  }
}

async function reset(): Promise<void> {
  writeFileSync("/tmp/cgw-crash-empty.toml", "");
  await ok("apply", "/tmp/cgw-crash-empty.toml");
  const left = leftovers();
  if (left.length) throw new Error(`removing every rule left map entries behind: ${left.join(", ")}`);
}

/** Runs a command in-process and counts its map writes. */
async function countWrites(argv: string[]): Promise<number> {
  let n = 0;
  onMapWrite(() => void n++);
  try {
    await ok(...argv);
  } finally {
    onMapWrite(null);
  }
  return n;
}

/** Runs a command in-process, killed before its kth map write. */
async function killedAt(argv: string[], k: number): Promise<void> {
  let n = 0;
  onMapWrite(() => {
    if (++n >= k) throw new Error(`simulated SIGKILL before map write ${k}`);
  });
  try {
    const r = await cgw(...argv);
    if (r.code === 0) throw new Error(`${argv.join(" ")} was to be killed before write ${k} but finished`);
  } finally {
    onMapWrite(null);
  }
}

interface Expectation {
  old: string;
  next: string;
  writes: number;
  rules: number;
}

const expectations = new Map<string, Expectation>();

beforeAll(async () => {
  mkcg(A.slice(1), B.slice(1));
  await ok("load");
  for (const s of SCENARIOS) {
    await reset();
    await s.before();
    const old = livePolicy();
    const argv = await s.command();
    const writes = await countWrites(argv);
    expectations.set(s.name, { old, next: livePolicy(), writes, rules: (await json("rules")).rules.length });
    if (writes < 1) throw new Error(`${s.name}: no map writes to interrupt`);
  }
});

/** After a kill: old or new; after the rerun: new, and every rule bound and warning-free. */
async function checkKill(s: Scenario, argv: string[], k: number): Promise<void> {
  const e = expectations.get(s.name)!;
  const after = livePolicy();
  if (after !== e.old && after !== e.next)
    throw new Error(`${s.name}, killed before write ${k}: live policy is neither old nor new:\n${after}\n--- old:\n${e.old}\n--- new:\n${e.next}`);
  await ok(...argv);
  expect(livePolicy()).toBe(e.next);
  const rules = (await json("rules")).rules;
  expect(rules.filter((r: any) => r.state !== "bound" || r.warnings.length)).toEqual([]);
  expect(rules.length).toBe(e.rules);
}

// mulberry32, seeded: the same kills on every run.
function rng(seed: number) {
  let a = seed >>> 0;
  return (n: number) => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return Math.floor((((t ^ (t >>> 14)) >>> 0) / 4294967296) * n);
  };
}

test("a kill before each map write of each command: policy old or new, rerun completes", async () => {
  const pick = rng(20261129);
  const perScenario = new Map<string, number>();
  // Every write of every scenario, then EXTRA_KILLS random repeats.
  const plan: Array<[Scenario, number]> = [];
  for (const s of SCENARIOS) for (let k = 1; k <= expectations.get(s.name)!.writes; k++) plan.push([s, k]);
  const points = plan.length;
  while (plan.length < points + EXTRA_KILLS) {
    const s = SCENARIOS[pick(SCENARIOS.length)]!;
    plan.push([s, 1 + pick(expectations.get(s.name)!.writes)]);
  }
  for (const [s, k] of plan) {
    await reset();
    await s.before();
    const argv = await s.command();
    await killedAt(argv, k);
    await checkKill(s, argv, k);
    perScenario.set(s.name, (perScenario.get(s.name) ?? 0) + 1);
  }
  const total = [...perScenario.values()].reduce((a, b) => a + b, 0);
  console.log(`crash: ${total} kills, one before each of the ${points} map writes of ${SCENARIOS.length} commands${EXTRA_KILLS ? ` and ${EXTRA_KILLS} random repeats` : ""} (${[...perScenario].map(([n, c]) => `${n}: ${c}`).join(", ")}), 0 inconsistent`);
  expect(total).toBe(points + EXTRA_KILLS);
}, 1_200_000);

test(`${REAL_KILLS} real SIGKILLs of the binary end the same way`, async () => {
  const pick = rng(4242);
  let killed = 0;
  for (let i = 0; i < REAL_KILLS; i++) {
    const s = SCENARIOS[pick(SCENARIOS.length)]!;
    const k = 1 + pick(expectations.get(s.name)!.writes);
    await reset();
    await s.before();
    const argv = await s.command();
    const p = Bun.spawnSync([BINARY, ...argv], {
      env: { ...process.env, NO_COLOR: "1", CGWARDEN_KILL_BEFORE_WRITE: String(k) },
      stdout: "pipe",
      stderr: "pipe",
    });
    expect(p.signalCode).toBe("SIGKILL");
    killed++;
    await checkKill(s, argv, k);
  }
  console.log(`crash: ${killed} real SIGKILLs of ${BINARY}, 0 inconsistent`);
}, 600_000);

test("a change killed after its flip leaves the old epoch behind; the next change sweeps it", async () => {
  await reset();
  await ok("lock", A, "--out");
  const argv = ["allow", A, "--uid", "0"];
  const writes = await countWrites(argv);
  await ok("remove", await ruleId("allow", A));
  // The last writes delete the old epoch; kill before the last one.
  await killedAt(argv, writes);
  const rules = (await json("rules")).rules.filter((r: any) => r.kind === "allow");
  expect(rules.length).toBe(1);
  expect(livePolicy()).toContain(`allow ${A} {"uid":0}`);
  await reset();
  expect(leftovers()).toEqual([]);
});
