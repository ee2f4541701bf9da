// The kernel against the TypeScript model: random trees, random policies
// bound to paths and templates, random migrations, and cgroups created and
// removed between them; every verdict must agree. The kernel binds new
// cgroups through its mkdir tracepoint, the model through bindingFor().
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, rmdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { decide, type Actor } from "../../cli/policy/model.ts";
import { compile, modelPolicy } from "../../cli/policy/compile.ts";
import type { IdentifiedRule, RuleSpec, SelectorSpec } from "../../cli/policy/spec.ts";
import { processFacts } from "../../cli/kernel/procfs.ts";
import { Direction, type DirectionName } from "../../cli/object/abi.ts";
import { CGROOT, EPERM, KERNEL, MOVER, Mover, cgroupOf, cgw, cleanup, json, mkcg, ok, place } from "./harness.ts";

afterAll(cleanup);

const ROUNDS = Number(process.env.CGWARDEN_DIFF_ROUNDS ?? 25);
const MOVES_PER_ROUND = 20;
const SEED = Number(process.env.CGWARDEN_DIFF_SEED ?? 20261128);
const BASE = "cgw/diff";
const MOVER_COPY = "/tmp/cgw-mover-copy"; // same program, another inode: another --exe

// mulberry32: small, seedable, good enough to pick test cases.
function rng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    int: (n: number) => Math.floor(next() * n),
    pick: <T>(xs: readonly T[]): T => xs[Math.floor(next() * xs.length)]!,
    chance: (p: number) => next() < p,
  };
}

const r = rng(SEED);

/**
 * A random tree under BASE, names ending in .service or .scope so templates
 * match some of them. Paths are relative to the cgroup2 root.
 */
function randomTree(): string[] {
  const nodes = [BASE];
  for (let i = 0; i < 14; i++) {
    const parent = r.pick(nodes.filter((n) => n.split("/").length - BASE.split("/").length < 5));
    nodes.push(`${parent}/n${i}${r.pick([".service", ".scope", ""])}`);
  }
  return nodes;
}

const exists = (path: string) => existsSync(join(CGROOT, path));

const chainOf = (path: string): bigint[] => {
  const parts = path.split("/");
  const chain = [statSync(CGROOT, { bigint: true }).ino];
  for (let i = 1; i <= parts.length; i++) chain.push(statSync(join(CGROOT, ...parts.slice(0, i)), { bigint: true }).ino);
  return chain;
};

/** Every cgroup under BASE (and its ancestors), with ids, as the model binds them. */
function liveCgroups(): Array<{ id: bigint; path: string }> {
  const out = [{ id: statSync(CGROOT, { bigint: true }).ino, path: "/" }];
  const parts = BASE.split("/");
  for (let i = 1; i < parts.length; i++) {
    const p = parts.slice(0, i).join("/");
    out.push({ id: statSync(join(CGROOT, p), { bigint: true }).ino, path: `/${p}` });
  }
  const visit = (rel: string) => {
    out.push({ id: statSync(join(CGROOT, rel), { bigint: true }).ino, path: `/${rel}` });
    for (const e of readdirSync(join(CGROOT, rel), { withFileTypes: true })) if (e.isDirectory()) visit(`${rel}/${e.name}`);
  };
  visit(BASE);
  return out;
}

interface ActorProc {
  mover: Mover;
  identity: Actor;
  cgroup: string;
}

let tree: string[] = [];
let actors: ActorProc[] = [];
let tasks: Mover[] = [];
/** Cgroups that hold an actor or a task: never removed. */
const occupied = new Set<string>();

beforeAll(async () => {
  tree = randomTree();
  mkcg(...tree);
  // Unprivileged actors must pass DAC on every cgroup.procs in the tree, so that cgwarden decides.
  Bun.spawnSync(["chown", "-R", "1000", join(CGROOT, BASE)]);
  copyFileSync(MOVER, MOVER_COPY);
  Bun.spawnSync(["chmod", "755", MOVER_COPY]);
  const specs = [
    { uid: 0, exe: MOVER },
    { uid: 1000, exe: MOVER },
    { uid: 0, exe: MOVER_COPY },
    { uid: 1000, exe: MOVER_COPY },
  ];
  for (const spec of specs) {
    const cgroup = r.pick(tree);
    occupied.add(cgroup);
    const mover = await Mover.start({ uid: spec.uid, exe: spec.exe, cgroup });
    const facts = processFacts(mover.pid);
    actors.push({
      mover,
      cgroup,
      identity: { tgid: facts.tgid, startTicks: facts.startTicks, euid: facts.euid, exe: { dev: facts.exe!.dev, ino: facts.exe!.ino }, cgroupChain: chainOf(cgroup) },
    });
  }
  for (let i = 0; i < 4; i++) tasks.push(await Mover.start({ cgroup: r.pick(tree) }));
  await ok("load");
});

/** A path for a rule: an existing cgroup, one that does not exist (yet), or a template. */
function randomRulePath(): string {
  const at = r.pick(tree);
  const roll = r.next();
  if (roll < 0.15) return `/${at}/*${r.pick([".service", ".scope"])}`;
  if (roll < 0.3) return `/${at}/**/*${r.pick([".service", ".scope"])}`;
  if (roll < 0.4) return `/${at}/later${r.int(3)}.service`;
  return `/${at}`;
}

/** A random conjunction of selectors drawn from identities that exist (so some match). */
function randomSelectors(): { file: Record<string, unknown>; spec: SelectorSpec } {
  for (;;) {
    const a = r.pick(actors);
    const file: Record<string, unknown> = {};
    const spec: SelectorSpec = {};
    if (r.chance(0.4)) {
      const uid = r.pick([0, 1000, 4242]);
      file.uid = uid;
      spec.uid = uid;
    }
    if (r.chance(0.35)) {
      const exe = r.pick([MOVER, MOVER_COPY]);
      const st = statSync(exe, { bigint: true });
      file.exe = exe;
      spec.exe = { path: exe, dev: st.dev, ino: st.ino };
    }
    if (r.chance(0.3)) {
      const cg = r.chance(0.3) ? `/${r.pick(tree)}/*.service` : `/${r.pick(tree)}`;
      file.cgroup = cg;
      spec.cgroup = cg;
    }
    if (r.chance(0.2)) {
      file.pid = a.identity.tgid;
      spec.pid = { tgid: a.identity.tgid, startTicks: a.identity.startTicks };
    }
    if (Object.keys(file).length) return { file, spec };
  }
}

/** Applies a random policy file; returns the rules as the model sees them. */
async function randomPolicy(round: number): Promise<{ rules: IdentifiedRule[]; globalMode: "enforce" | "audit" }> {
  const globalMode = r.chance(0.15) ? "audit" : "enforce";
  const doc = { settings: { mode: globalMode }, lock: [] as unknown[], allow: [] as unknown[], delegate: [] as unknown[] };
  const specs: RuleSpec[] = [];
  const lockPaths = new Set<string>();
  for (let i = 0, n = 1 + r.int(4); i < n; i++) {
    const path = randomRulePath();
    if (lockPaths.has(path)) continue;
    lockPaths.add(path);
    const dirs = (["in", "out", "within"] as DirectionName[]).filter(() => r.chance(0.5));
    const mode = r.chance(0.2) ? "audit" : "enforce";
    const directions = dirs.length ? dirs : (["in", "out", "within"] as DirectionName[]);
    doc.lock.push({ path, directions, mode });
    specs.push({ kind: "lock", path, directions: directions.reduce((m, d) => m | Direction[d], 0), mode });
  }
  const seen = new Set<string>();
  for (let i = 0, n = r.int(5); i < n; i++) {
    const kind = r.chance(0.5) ? "allow" : "delegate";
    const path = randomRulePath();
    const { file, spec } = randomSelectors();
    const key = JSON.stringify([kind, path, file]);
    if (seen.has(key)) continue;
    seen.add(key);
    doc[kind].push({ path, ...file });
    specs.push({ kind, path, selectors: spec });
  }
  const file = `/tmp/cgw-diff-${round}.json`;
  writeFileSync(file, JSON.stringify(doc));
  const applied = await cgw("apply", file, "--json");
  if (applied.code !== 0) {
    // Two random templates of one directory may overlap; the file is refused whole, and the round draws again.
    if (/can both match one cgroup/.test(applied.err)) return randomPolicy(round);
    throw new Error(`apply ${JSON.stringify(doc)} exited ${applied.code}: ${applied.err}`);
  }
  const live = (await json("rules")).rules as Array<{ id: number; kind: string; path: string; selectors?: Record<string, unknown> }>;
  expect(live.length).toBe(specs.length);
  return { rules: specs.map((spec, i) => ({ id: i + 1, spec })), globalMode };
}

let newCgroups = 0;

/** Creates or removes a cgroup at random: a waiting path appears, a new one appears anywhere, a bound one goes. */
function churn(rules: IdentifiedRule[]): string {
  const removable = tree.filter((p) => p !== BASE && exists(p) && !occupied.has(p) && !readdirSync(join(CGROOT, p), { withFileTypes: true }).some((e) => e.isDirectory()) && readFileSync(join(CGROOT, p, "cgroup.procs"), "utf8").trim() === "");
  const waiting = rules.map((x) => x.spec.path.slice(1)).filter((p) => !p.includes("*") && !exists(p) && exists(p.slice(0, p.lastIndexOf("/"))));
  if (waiting.length && r.chance(0.5)) {
    const p = r.pick(waiting);
    mkdirSync(join(CGROOT, p));
    Bun.spawnSync(["chown", "1000", join(CGROOT, p), join(CGROOT, p, "cgroup.procs")]);
    if (!tree.includes(p)) tree.push(p);
    return `created /${p}`;
  }
  // A new cgroup anywhere in the tree: the kernel binds it, recursive templates included.
  if (r.chance(0.3)) {
    const parent = r.pick(tree.filter(exists).filter((n) => n.split("/").length - BASE.split("/").length < 7));
    const p = `${parent}/new${newCgroups++}${r.pick([".service", ".scope", ".slice"])}`;
    mkdirSync(join(CGROOT, p));
    Bun.spawnSync(["chown", "1000", join(CGROOT, p), join(CGROOT, p, "cgroup.procs")]);
    tree.push(p);
    return `created /${p}`;
  }
  if (removable.length) {
    const p = r.pick(removable);
    try {
      rmdirSync(join(CGROOT, p));
    } catch {
      return ""; // a clone's child was still on its way out
    }
    return `removed /${p}`;
  }
  return "";
}

/** Re-creates removed tree cgroups so every round starts from the full tree. */
function restoreTree(): void {
  for (const p of tree) {
    if (exists(p)) continue;
    mkdirSync(join(CGROOT, p), { recursive: true });
    Bun.spawnSync(["chown", "-R", "1000", join(CGROOT, p)]);
  }
}

describe(`differential: kernel vs model on ${KERNEL}`, () => {
  test(`${ROUNDS * MOVES_PER_ROUND} random migrations agree`, async () => {
    const mismatches: string[] = [];
    const explainMismatches: string[] = [];
    let compared = 0;
    const where = new Map<number, string>();
    let churned = 0;
    for (let round = 0; round < ROUNDS; round++) {
      restoreTree();
      writeFileSync("/tmp/cgw-diff-empty.json", "{}");
      await ok("apply", "/tmp/cgw-diff-empty.json");
      occupied.clear();
      for (const a of actors) occupied.add(a.cgroup);
      for (const t of tasks) {
        const at = r.pick(tree);
        place(t.pid, at);
        where.set(t.pid, at);
        occupied.add(at);
      }
      const { rules, globalMode } = await randomPolicy(round);
      // A line per round: progress for whoever watches, and life for the runner's stall detector.
      console.log(`differential round ${round + 1}/${ROUNDS}: ${rules.length} rules, ${tree.length} cgroups, ${compared} compared so far`);
      const compiled = compile(rules, 0);
      for (let i = 0; i < MOVES_PER_ROUND; i++) {
        if (r.chance(0.3) && churn(rules)) churned++;
        const policy = modelPolicy(compiled, rules, globalMode, liveCgroups());
        const actor = r.pick(actors);
        const dst = r.pick(tree.filter(exists));
        const clone = r.chance(0.3);
        const task = r.pick(tasks);
        const src = clone ? actor.cgroup : where.get(task.pid)!;
        occupied.add(dst);
        const expected = decide(policy, { actor: actor.identity, src: chainOf(src), dst: chainOf(dst) });
        // explain reads the live policy from the pinned maps, not the test's copy of it.
        const explained = clone
          ? await cgw("explain", "--via", "clone", "--to", `/${dst}`, "--actor", String(actor.identity.tgid))
          : await cgw("explain", "--task", String(task.pid), "--to", `/${dst}`, "--actor", String(actor.identity.tgid));
        const errno = clone ? await actor.mover.cloneInto(dst) : await actor.mover.moveProcs(task.pid, dst);
        const kernel = errno === 0 ? "allow" : errno === EPERM ? "deny" : `errno ${errno}`;
        const model = expected.verdict === "deny" ? "deny" : "allow";
        compared++;
        const byExplain = explained.code === 3 ? "deny" : explained.code === 0 ? "allow" : `exit ${explained.code}: ${explained.err}`;
        if (byExplain !== kernel) explainMismatches.push(`round ${round}: /${src} -> /${dst}: kernel ${kernel}, explain ${byExplain}`);
        if (kernel !== model)
          mismatches.push(`round ${round}: ${clone ? "clone" : "procs"} /${src} -> /${dst} by pid ${actor.identity.tgid} uid ${actor.identity.euid}: kernel ${kernel}, model ${model} (rule ${expected.ruleId})`);
        if (!clone && errno === 0) where.set(task.pid, dst);
        if (!clone) expect(cgroupOf(task.pid)).toBe(`/${where.get(task.pid)}`);
      }
    }
    console.log(`differential on ${KERNEL}: compared ${compared} migrations (seed ${SEED}) with ${churned} cgroups created or removed between them, ${mismatches.length} model mismatches, ${explainMismatches.length} explain mismatches`);
    expect(mismatches).toEqual([]);
    expect(explainMismatches).toEqual([]);
    expect(compared).toBe(ROUNDS * MOVES_PER_ROUND);
  });
});
