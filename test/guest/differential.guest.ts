// The kernel against the TypeScript model: random trees, random policies,
// random migrations; every verdict must agree.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { copyFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { decide, type Actor, type GateRule, type Policy } from "../../cli/policy/model.ts";
import type { Selectors } from "../../cli/policy/selectors.ts";
import { processFacts } from "../../cli/kernel/procfs.ts";
import { Direction } from "../../cli/object/abi.ts";
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

/** A random tree of cgroups under BASE, depth up to 5 below it. */
function randomTree(): string[] {
  const nodes = [BASE];
  for (let i = 0; i < 14; i++) {
    const parent = r.pick(nodes.filter((n) => n.split("/").length - BASE.split("/").length < 5));
    nodes.push(`${parent}/n${i}`);
  }
  return nodes;
}

const chainOf = (path: string): bigint[] => {
  const parts = path.split("/");
  const chain = [statSync(CGROOT, { bigint: true }).ino];
  for (let i = 1; i <= parts.length; i++) chain.push(statSync(join(CGROOT, ...parts.slice(0, i)), { bigint: true }).ino);
  return chain;
};

interface ActorProc {
  mover: Mover;
  identity: Actor;
  cgroup: string;
}

let tree: string[] = [];
let actors: ActorProc[] = [];
let tasks: Mover[] = [];

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

/** A random conjunction of selectors drawn from identities that exist (so some match). */
function randomSelectors(): { args: string[]; selectors: Selectors } {
  for (;;) {
    const a = r.pick(actors);
    const args: string[] = [];
    const selectors: Selectors = {};
    if (r.chance(0.4)) {
      const uid = r.pick([0, 1000, 4242]);
      args.push("--uid", String(uid));
      selectors.uid = uid;
    }
    if (r.chance(0.35)) {
      const exe = r.pick([MOVER, MOVER_COPY]);
      const st = statSync(exe, { bigint: true });
      args.push("--exe", exe);
      selectors.exe = { dev: st.dev, ino: st.ino };
    }
    if (r.chance(0.3)) {
      const cg = r.pick(tree);
      args.push("--cgroup", `/${cg}`);
      selectors.cgroup = chainOf(cg).at(-1)!;
    }
    if (r.chance(0.2)) {
      args.push("--pid", String(a.identity.tgid));
      selectors.pid = { tgid: a.identity.tgid, startTicks: a.identity.startTicks };
    }
    if (args.length) return { args, selectors };
  }
}

async function randomPolicy(): Promise<Policy> {
  for (const rule of (await json("rules")).rules) await ok("remove", String(rule.id));
  const globalMode = r.chance(0.15) ? "audit" : "enforce";
  await ok("mode", globalMode);
  const policy: Policy = { globalMode, locks: new Map(), gates: [] };
  const nLocks = 1 + r.int(4);
  for (let i = 0; i < nLocks; i++) {
    const at = r.pick(tree);
    const dirs = (["in", "out", "within"] as const).filter(() => r.chance(0.5));
    const audit = r.chance(0.2);
    const res = await json("lock", `/${at}`, ...dirs.map((d) => `--${d}`), ...(audit ? ["--audit"] : []));
    const bits = dirs.length ? dirs.reduce((m, d) => m | Direction[d], 0) : Direction.in | Direction.out | Direction.within;
    const id = chainOf(at).at(-1)!;
    policy.locks.set(id, { id: res.rule.id, cgroup: id, directions: bits, mode: audit ? "audit" : "enforce" });
  }
  const nGates = r.int(5);
  for (let i = 0; i < nGates; i++) {
    const kind: GateRule["kind"] = r.chance(0.5) ? "allow" : "delegate";
    const at = r.pick(tree);
    const { args, selectors } = randomSelectors();
    const res = await json(kind, `/${at}`, ...args);
    if (!res.changed) continue; // the same rule drawn twice
    const anchor = chainOf(at).at(-1)!;
    const slot = policy.gates.filter((g) => g.anchor === anchor && g.kind === kind).length;
    policy.gates.push({ id: res.rule.id, kind, anchor, slot, selectors });
  }
  return policy;
}

describe(`differential: kernel vs model on ${KERNEL}`, () => {
  test(`${ROUNDS * MOVES_PER_ROUND} random migrations agree`, async () => {
    const mismatches: string[] = [];
    const explainMismatches: string[] = [];
    let compared = 0;
    const where = new Map<number, string>();
    for (let round = 0; round < ROUNDS; round++) {
      for (const rule of (await json("rules")).rules) await ok("remove", String(rule.id));
      for (const t of tasks) {
        const at = r.pick(tree);
        place(t.pid, at);
        where.set(t.pid, at);
      }
      const policy = await randomPolicy();
      for (let i = 0; i < MOVES_PER_ROUND; i++) {
        const actor = r.pick(actors);
        const dst = r.pick(tree);
        const clone = r.chance(0.3);
        const task = r.pick(tasks);
        const src = clone ? actor.cgroup : where.get(task.pid)!;
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
    console.log(`differential on ${KERNEL}: compared ${compared} migrations (seed ${SEED}), ${mismatches.length} model mismatches, ${explainMismatches.length} explain mismatches`);
    expect(mismatches).toEqual([]);
    expect(explainMismatches).toEqual([]);
    expect(compared).toBe(ROUNDS * MOVES_PER_ROUND);
  });
});
