// what-if predicts the kernel: a workload of 1,000 migrations by varied
// actors (uids, executables, cgroups; cgroup.procs, cgroup.threads and
// clone3) runs under policy A with every decision recorded; `what-if B`
// replays those records; then B is applied and the same workload runs
// again. Every migration's predicted verdict must be the kernel's.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chownSync, copyFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { CGROOT, EPERM, KERNEL, MOVER, Mover, cgw, cleanup, json, mkcg, ok, place } from "./harness.ts";

afterAll(cleanup);

const W = "cgw/wi";
const MOVER_COPY = "/tmp/cgw-wi-mover-copy"; // same program, another inode: another --exe
const RUNNER = process.execPath; // places tasks between migrations; every lock lets it through
const OPS = 1000;
const DOMAINS = ["a.service", "b.service", "g.slice/x@1.service", "g.slice/y.scope", "free", "deleg/inner.service", "other"].map((p) => `${W}/${p}`);
const THREADED = [`${W}/th/t1`, `${W}/th/t2`];

function rng(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Op {
  kind: "procs" | "threads" | "clone";
  actor: number;
  /** Mover index for procs, thread index for threads. */
  task: number;
  src: string;
  dst: string;
}

let actors: Mover[] = [];
let tasks: Mover[] = [];
let threader: Mover;
let tids: number[] = [];

beforeAll(async () => {
  mkcg(...DOMAINS, ...THREADED);
  for (const t of THREADED) writeFileSync(join(CGROOT, t, "cgroup.type"), "threaded");
  // Unprivileged actors must pass DAC on every cgroup file involved, so that cgwarden decides.
  Bun.spawnSync(["chown", "-R", "1000", join(CGROOT, W)]);
  copyFileSync(MOVER, MOVER_COPY);
  chownSync(MOVER_COPY, 0, 0);
  Bun.spawnSync(["chmod", "755", MOVER_COPY]);
  await cgw("unload");
  await ok("load", "--records", "8192");
  const specs = [
    { uid: 0, exe: MOVER, cgroup: `${W}/other` },
    { uid: 1000, exe: MOVER, cgroup: `${W}/g.slice/y.scope` },
    { uid: 0, exe: MOVER_COPY, cgroup: `${W}/free` },
    { uid: 1000, exe: MOVER_COPY, cgroup: `${W}/deleg/inner.service` },
  ];
  for (const s of specs) actors.push(await Mover.start(s));
  for (let i = 0; i < 3; i++) tasks.push(await Mover.start({ cgroup: `${W}/other` }));
  threader = await Mover.start({ cgroup: THREADED[0] });
  tids = await threader.spawnThreads(2);
});

function workload(): Op[] {
  const r = rng(20261206);
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(r() * xs.length)]!;
  const ops: Op[] = [];
  const actorCgroups = ["other", "g.slice/y.scope", "free", "deleg/inner.service"].map((p) => `${W}/${p}`);
  while (ops.length < OPS) {
    const roll = r();
    const actor = Math.floor(r() * 4);
    if (roll < 0.15) {
      const dst = pick(DOMAINS.filter((d) => d !== actorCgroups[actor]));
      ops.push({ kind: "clone", actor, task: -1, src: actorCgroups[actor]!, dst });
    } else if (roll < 0.3) {
      const from = Math.floor(r() * 2);
      ops.push({ kind: "threads", actor, task: Math.floor(r() * tids.length), src: THREADED[from]!, dst: THREADED[1 - from]! });
    } else {
      const src = pick(DOMAINS);
      ops.push({ kind: "procs", actor, task: Math.floor(r() * tasks.length), src, dst: pick(DOMAINS.filter((d) => d !== src)) });
    }
  }
  return ops;
}

/** Runs the workload; each migration's errno. */
async function run(ops: Op[]): Promise<number[]> {
  const out: number[] = [];
  for (const op of ops) {
    const a = actors[op.actor]!;
    if (op.kind === "clone") out.push(await a.cloneInto(op.dst));
    else if (op.kind === "threads") {
      writeFileSync(join(CGROOT, op.src, "cgroup.threads"), String(tids[op.task]));
      out.push(await a.moveThread(tids[op.task]!, op.dst));
    } else {
      place(tasks[op.task]!.pid, op.src);
      out.push(await a.moveProcs(tasks[op.task]!.pid, op.dst));
    }
  }
  return out;
}

const lockWithRunner = (path: string, directions: string[], allows: string[]) =>
  [`[[lock]]\npath = "/${path}"\ndirections = ${JSON.stringify(directions)}\n`, `[[allow]]\npath = "/${path}"\nexe = "${RUNNER}"\n`, ...allows.map((a) => `[[allow]]\npath = "/${path}"\n${a}\n`)].join("\n");

describe(`what-if on ${KERNEL}`, () => {
  test(`${OPS} recorded migrations replayed against another policy: every predicted verdict is the kernel's`, async () => {
    const settings = `[settings]\nrecord = "all"\n\n`;
    const policyA =
      settings +
      [
        lockWithRunner(`${W}/**/*.service`, ["out"], [`uid = 0\nexe = "${MOVER}"`]),
        lockWithRunner(`${W}/free`, ["in"], ["uid = 1000"]),
        lockWithRunner(`${W}/th`, ["within"], [`exe = "${MOVER_COPY}"`]),
      ].join("\n");
    const policyB =
      settings +
      [
        lockWithRunner(`${W}/**/*.scope`, ["in", "out"], [`exe = "${MOVER_COPY}"`]),
        lockWithRunner(`${W}/g.slice`, ["within"], []),
        `[[delegate]]\npath = "/${W}/g.slice"\ncgroup = "/${W}/g.slice/y.scope"\n`,
        lockWithRunner(`${W}/a.service`, ["out"], [`pid = ${actors[0]!.pid}`]),
        lockWithRunner(`${W}/free`, ["in"], ["uid = 0"]),
        lockWithRunner(`${W}/th`, ["within"], ["uid = 1000"]),
      ].join("\n");
    writeFileSync("/tmp/cgw-wi-a.toml", policyA);
    writeFileSync("/tmp/cgw-wi-b.toml", policyB);
    const ops = workload();
    await ok("apply", "/tmp/cgw-wi-a.toml");
    const before = (await cgw("audit", "--json")).out.trim().split("\n").filter(Boolean).map((l) => JSON.parse(l).seq as number);
    const startSeq = Math.max(0, ...before);
    const underA = await run(ops);

    // The records of the workload, each matched to its migration in order (the runner's placements are its own records).
    const lines = (await cgw("audit", "--json")).out.trim().split("\n").filter(Boolean).filter((l) => JSON.parse(l).seq > startSeq);
    writeFileSync("/tmp/cgw-wi-records.jsonl", `${lines.join("\n")}\n`);
    const records = lines.map((l) => JSON.parse(l));
    const seqOf: number[] = [];
    let at = 0;
    for (const op of ops) {
      const actor = actors[op.actor]!.pid;
      while (at < records.length && !(records[at].actor.tgid === actor && records[at].dst.path === `/${op.dst}` && records[at].via === op.kind)) at++;
      if (at === records.length) throw new Error(`no record for op ${seqOf.length}: ${JSON.stringify(op)}`);
      seqOf.push(records[at++].seq);
    }
    const recorded = new Map(records.map((r) => [r.seq as number, r.verdict as string]));
    for (let i = 0; i < ops.length; i++) expect(recorded.get(seqOf[i]!) === "denied").toBe(underA[i] === EPERM);

    const predicted = await cgw("what-if", "/tmp/cgw-wi-b.toml", "--records", "/tmp/cgw-wi-records.jsonl", "--json");
    const report = JSON.parse(predicted.out);
    const changedTo = new Map<number, string>();
    for (const c of report.changes) for (const seq of c.seqs) changedTo.set(seq, c.to);
    const prediction = seqOf.map((seq) => changedTo.get(seq) ?? recorded.get(seq)!);

    await ok("apply", "/tmp/cgw-wi-b.toml");
    const underB = await run(ops);
    const mismatches = ops.map((op, i) => ({ op, predicted: prediction[i], errno: underB[i] })).filter((m) => (m.predicted === "denied") !== (m.errno === EPERM));
    const kinds = (k: Op["kind"]) => ops.filter((o) => o.kind === k).length;
    const flipped = ops.filter((_, i) => (underA[i] === EPERM) !== (underB[i] === EPERM)).length;
    console.log(
      `what-if: ${OPS} migrations (${kinds("procs")} procs, ${kinds("threads")} threads, ${kinds("clone")} clone3; 4 actors: uid 0 and 1000, two executables, four cgroups), ` +
        `under A ${underA.filter((e) => e === EPERM).length} denied, under B ${underB.filter((e) => e === EPERM).length} denied, ${flipped} changed; ` +
        `what-if predicted ${report.changed} changes (${report.newlyDenied} newly denied), exit ${predicted.code}; ${mismatches.length} predictions differ from the kernel`,
    );
    expect([...underA, ...underB].every((e) => e === 0 || e === EPERM)).toBe(true);
    expect(mismatches.slice(0, 5)).toEqual([]);
    expect(flipped).toBeGreaterThan(50);
    expect(predicted.code).toBe(report.newlyDenied ? 3 : 0);
    expect(report.newlyDenied).toBeGreaterThan(0);

    // The same answer from the flight recorder, and apply --dry-run's summary line.
    const fromRecorder = JSON.parse((await cgw("what-if", "/tmp/cgw-wi-b.toml", "--json")).out);
    expect(fromRecorder.replayed).toBeGreaterThanOrEqual(report.replayed);
    const dry = await json("apply", "--dry-run", "/tmp/cgw-wi-a.toml");
    expect(dry.whatIf.replayed).toBeGreaterThan(OPS);
    const dryText = await ok("apply", "--dry-run", "/tmp/cgw-wi-a.toml");
    expect(dryText).toContain("what-if against the flight recorder:");
    await ok("apply", "/tmp/cgw-wi-a.toml");
  }, 900_000);
});
