// The policy is enforced: the kernel enforces lock, allow and delegate for every
// way of migrating, judging the actor that really does it.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { copyFileSync, mkdirSync, readFileSync, rmSync, rmdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { BINARY, CGROOT, EACCES, EPERM, KERNEL, MOVER, Mover, binary, cgroupOf, cgw, cleanup, json, mkcg, ok, place, reusePid } from "./harness.ts";
import { spawn } from "../../scripts/project.ts";

afterAll(cleanup);

type Via = "procs" | "threads" | "clone";
type Dir = "in" | "out" | "within";

// Process moves and clone3 use L (locked) and O (outside); thread moves need a
// threaded subtree, TH, with the same shape inside it.
const P = { L: "cgw/p/L", La: "cgw/p/L/a", Lb: "cgw/p/L/b", O: "cgw/p/O", actors: "cgw/p/actors" };
const T = { dom: "cgw/t", L: "cgw/t/L", La: "cgw/t/L/a", Lb: "cgw/t/L/b", O: "cgw/t/O" };

function route(via: Via, dir: Dir) {
  const c = via === "threads" ? T : P;
  const [src, dst] = { in: [c.O, c.La], out: [c.La, c.O], within: [c.La, c.Lb] }[dir];
  return { lockAt: c.L, src: src!, dst: dst! };
}

let actor: Mover; // root, runs dist/test/mover, lives in P.actors
let task: Mover; // the process moved through cgroup.procs
let threadTask: Mover; // the process whose thread is moved through cgroup.threads
let threadTids: number[] = [];

beforeAll(async () => {
  mkcg(P.La, P.Lb, P.O, P.actors, T.dom);
  for (const t of [T.L, T.La, T.Lb, T.O]) {
    mkcg(t);
    writeFileSync(join(CGROOT, t, "cgroup.type"), "threaded");
  }
  actor = await Mover.start({ cgroup: P.actors });
  task = await Mover.start({ cgroup: P.O });
  threadTask = await Mover.start({ cgroup: T.dom });
  threadTids = await threadTask.spawnThreads(2);
  await ok("load");
});

async function reset(): Promise<void> {
  for (const r of (await json("rules")).rules) await ok("remove", String(r.id));
}

/** Puts the moved thing at `src` with no policy in the way; for clone3 the actor itself stands there. */
async function stage(via: Via, src: string): Promise<Mover> {
  await reset();
  if (via === "clone") {
    place(actor.pid, src);
    return actor;
  }
  if (via === "threads") {
    writeFileSync(join(CGROOT, src, "cgroup.threads"), String(threadTids[0]));
    return actor;
  }
  place(task.pid, src);
  return actor;
}

async function attempt(via: Via, who: Mover, dst: string): Promise<number> {
  if (via === "clone") return who.cloneInto(dst);
  if (via === "threads") return who.moveThread(threadTids[0]!, dst);
  return who.moveProcs(task.pid, dst);
}

function whereIs(via: Via): string {
  if (via === "threads") return readThreadCgroup(threadTids[0]!);
  return cgroupOf(task.pid);
}

function readThreadCgroup(tid: number, pid = threadTask.pid): string {
  const text = readFileSync(`/proc/${pid}/task/${tid}/cgroup`, "utf8");
  return text.split("\n").find((l) => l.startsWith("0::"))?.slice(3) ?? "?";
}

const selectorCases: Array<[string, () => string[]]> = [
  ["--uid", () => ["--uid", "0"]],
  ["--user", () => ["--user", "root"]],
  ["--exe", () => ["--exe", MOVER]],
  ["--cgroup", () => ["--cgroup", cgroupOf(actor.pid)]],
  ["--pid", () => ["--pid", String(actor.pid)]],
];

for (const via of ["procs", "threads", "clone"] as const) {
  for (const dir of ["in", "out", "within"] as const) {
    describe(`${via} × ${dir} on ${KERNEL}`, () => {
      const { lockAt, src, dst } = route(via, dir);

      test("denied under a lock on that direction", async () => {
        const who = await stage(via, src);
        await ok("lock", `/${lockAt}`, `--${dir}`);
        expect(await attempt(via, who, dst)).toBe(EPERM);
        if (via !== "clone") expect(whereIs(via)).toBe(`/${src}`);
      });

      test("allowed by a lock on the other directions only", async () => {
        const who = await stage(via, src);
        const others = (["in", "out", "within"] as const).filter((d) => d !== dir).map((d) => `--${d}`);
        await ok("lock", `/${lockAt}`, ...others);
        expect(await attempt(via, who, dst)).toBe(0);
      });

      for (const [name, selector] of selectorCases) {
        test(`allowed when the actor is exempt by ${name}`, async () => {
          const who = await stage(via, src);
          await ok("lock", `/${lockAt}`, `--${dir}`);
          await ok("allow", `/${lockAt}`, ...selector());
          expect(await attempt(via, who, dst)).toBe(0);
          if (via !== "clone") expect(whereIs(via)).toBe(`/${dst}`);
        });
      }

      test("not exempt by a selector for someone else", async () => {
        const who = await stage(via, src);
        await ok("lock", `/${lockAt}`, `--${dir}`);
        await ok("allow", `/${lockAt}`, "--uid", "4242");
        await ok("allow", `/${lockAt}`, "--uid", "0", "--exe", "/bin/sh");
        expect(await attempt(via, who, dst)).toBe(EPERM);
      });

      test("allowed again after unlock, and after remove", async () => {
        let who = await stage(via, src);
        await ok("lock", `/${lockAt}`, `--${dir}`);
        await ok("unlock", `/${lockAt}`);
        expect(await attempt(via, who, dst)).toBe(0);
        who = await stage(via, src);
        const r = await json("lock", `/${lockAt}`, `--${dir}`);
        await ok("remove", String(r.rule.id));
        expect(await attempt(via, who, dst)).toBe(0);
      });
    });
  }
}

describe(`delegation on ${KERNEL}`, () => {
  // D is delegated to uid 1000; F is a fence the admin put inside it.
  const D = { root: "cgw/d", a: "cgw/d/a", b: "cgw/d/b", F: "cgw/d/F", Fa: "cgw/d/F/a", out: "cgw/p/O" };
  let delegate: Mover;

  beforeAll(async () => {
    mkcg(D.a, D.b, D.Fa);
    // DAC must pass for cgwarden to be the one deciding: the delegate may
    // write the cgroup.procs files involved, including the common ancestor's.
    Bun.spawnSync(["chown", "-R", "1000", join(CGROOT, D.root)]);
    for (const f of ["cgw/cgroup.procs", "cgw/p/O/cgroup.procs"]) Bun.spawnSync(["chown", "1000", join(CGROOT, f)]);
    delegate = await Mover.start({ uid: 1000 });
  });

  test("moves within the delegated subtree pass, past locks at it and at its ancestors", async () => {
    await reset();
    place(task.pid, D.a);
    await ok("lock", "/cgw", "--within");
    await ok("lock", `/${D.root}`);
    await ok("delegate", `/${D.root}`, "--uid", "1000");
    expect(await delegate.moveProcs(task.pid, D.b)).toBe(0);
    expect(cgroupOf(task.pid)).toBe(`/${D.b}`);
    expect(await actor.moveProcs(task.pid, D.a)).toBe(EPERM); // root is not the delegate
  });

  test("moves crossing the boundary are denied", async () => {
    await reset();
    place(task.pid, D.a);
    await ok("lock", `/${D.root}`);
    await ok("delegate", `/${D.root}`, "--uid", "1000");
    expect(await delegate.moveProcs(task.pid, D.out)).toBe(EPERM);
  });

  test("a lock strictly below the delegation still applies", async () => {
    await reset();
    place(task.pid, D.a);
    await ok("lock", `/${D.root}`);
    await ok("lock", `/${D.F}`, "--out");
    await ok("delegate", `/${D.root}`, "--uid", "1000");
    expect(await delegate.moveProcs(task.pid, D.Fa)).toBe(0); // the fence only locks "out"
    expect(await delegate.moveProcs(task.pid, D.a)).toBe(EPERM);
    expect(cgroupOf(task.pid)).toBe(`/${D.Fa}`);
  });
});

describe(`identity on ${KERNEL}`, () => {
  test("a --pid rule does not match a new process that reuses the pid", async () => {
    await reset();
    place(task.pid, P.La);
    const first = await Mover.start({ cgroup: P.actors });
    await ok("lock", `/${P.L}`, "--out");
    await ok("allow", `/${P.L}`, "--pid", String(first.pid));
    const pid = first.pid;
    const second = await reusePid(first, () => Mover.start());
    expect(second.pid).toBe(pid);
    expect(await second.moveProcs(task.pid, P.O)).toBe(EPERM);
  });

  test("an inherited fd opened by root and written by an unprivileged process is judged by the writer", async () => {
    await reset();
    place(task.pid, P.La);
    await ok("lock", `/${P.L}`, "--out");
    await ok("allow", `/${P.L}`, "--uid", "0");
    const inherited = await Mover.start({ uid: 1000, openFirst: join(CGROOT, P.O, "cgroup.procs") });
    expect(await inherited.errno(`inherited ${task.pid}`)).toBe(EPERM);
    expect(cgroupOf(task.pid)).toBe(`/${P.La}`);
    await ok("allow", `/${P.L}`, "--uid", "1000");
    expect(await inherited.errno(`inherited ${task.pid}`)).toBe(0);
    expect(cgroupOf(task.pid)).toBe(`/${P.O}`);
  });

  test("a threadgroup move is judged as one migration of the whole process", async () => {
    await reset();
    const proc = await Mover.start({ cgroup: P.La });
    const tids = await proc.spawnThreads(3);
    const before = (await json("status")).counters.decisions;
    await ok("lock", `/${P.L}`, "--out");
    expect(await actor.moveProcs(tids[1]!, P.O)).toBe(EPERM);
    expect((await json("status")).counters.decisions).toBe(before + 1);
    await ok("allow", `/${P.L}`, "--uid", "0");
    expect(await actor.moveProcs(tids[1]!, P.O)).toBe(0);
    expect((await json("status")).counters.decisions).toBe(before + 2);
    for (const tid of [proc.pid, ...tids]) expect(readThreadCgroup(tid, proc.pid)).toBe(`/${P.O}`);
  });

  test("DAC still applies first: an unprivileged writer without file access gets EACCES", async () => {
    await reset();
    const nobody = await Mover.start({ uid: 65534 });
    expect(await nobody.moveProcs(task.pid, P.La)).toBe(EACCES);
  });
});

describe(`commands on ${KERNEL}`, () => {
  test("every command is idempotent, and new options update the rule in place", async () => {
    await reset();
    const a = await json("lock", `/${P.L}`, "--out");
    const b = await json("lock", `/${P.L}`, "--out");
    expect(b).toMatchObject({ changed: false, action: "unchanged" });
    expect(b.rule.id).toBe(a.rule.id);
    const c = await json("lock", `/${P.L}`, "--in", "--audit");
    expect(c).toMatchObject({ changed: true, action: "updated" });
    expect(c.rule).toMatchObject({ id: a.rule.id, directions: ["in"], mode: "audit" });
    const d1 = await json("allow", `/${P.L}`, "--uid", "7");
    const d2 = await json("allow", `/${P.L}`, "--uid", "7");
    expect(d2).toMatchObject({ changed: false });
    expect(d2.rule.id).toBe(d1.rule.id);
    expect((await json("rules")).rules.length).toBe(2);
    expect((await cgw("unlock", "/cgw")).code).toBe(0); // no lock there: a no-op
    expect((await json("remove", "999999")).changed).toBe(false);
  });

  test("a policy directory: each rule keeps its file and line; a rule moved between files changes nothing in force, only its source; export | apply - keeps them", async () => {
    await reset();
    const dir = "/tmp/cgw-etc";
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(join(dir, "policy.d"), { recursive: true });
    const main = join(dir, "policy.toml");
    const dropIn = join(dir, "policy.d/10-gate.toml");
    const allow = `[[allow]]\npath = "/${P.L}"\nuid = 7\n`;
    writeFileSync(main, `[[lock]]\npath = "/${P.L}"\n\n${allow}`);
    writeFileSync(dropIn, `[[lock]]\npath = "/${P.O}"\ndirections = ["out"]\n`);
    const sources = async () => Object.fromEntries((await json("rules")).rules.map((r: { kind: string; path: string; source: unknown }) => [`${r.kind} ${r.path}`, r.source]));
    expect(await json("apply", dir)).toMatchObject({ changed: true, added: [{}, {}, {}] });
    expect(await sources()).toEqual({ [`lock /${P.L}`]: { file: main, line: 1 }, [`allow /${P.L}`]: { file: main, line: 4 }, [`lock /${P.O}`]: { file: dropIn, line: 1 } });
    const inForce = JSON.stringify((await json("rules")).rules.map((r: { id: number }) => r.id));

    // The allow moves from policy.toml into the drop-in: the same policy, so no change, and the record follows the file.
    writeFileSync(main, `[[lock]]\npath = "/${P.L}"\n`);
    writeFileSync(dropIn, `[[lock]]\npath = "/${P.O}"\ndirections = ["out"]\n\n${allow}`);
    expect(await json("apply", dir)).toMatchObject({ changed: false });
    expect((await sources())[`allow /${P.L}`]).toEqual({ file: dropIn, line: 5 });
    expect(JSON.stringify((await json("rules")).rules.map((r: { id: number }) => r.id))).toBe(inForce);
    expect(await ok("export", "--sources")).toContain(`# from ${dropIn}:5\n[[allow]]\npath = "/${P.L}"`);

    // Standard input names no file: re-applying the export changes nothing and forgets no source.
    const piped = spawn(["sh", "-c", `${BINARY} export | ${BINARY} apply - --json`]);
    expect(JSON.parse(piped.out)).toMatchObject({ changed: false });
    expect((await sources())[`allow /${P.L}`]).toEqual({ file: dropIn, line: 5 });
    rmSync(dir, { recursive: true, force: true });
  });

  test("cgroup paths and filesystem paths name the same cgroup", async () => {
    await reset();
    const a = await json("lock", `/${P.L}`);
    const b = await json("lock", join(CGROOT, P.L));
    expect(b.rule.id).toBe(a.rule.id);
    expect(b.changed).toBe(false);
  });

  test("bad input gets one clear line and a non-zero exit, and changes nothing", async () => {
    await reset();
    await ok("lock", `/${P.L}`);
    const before = JSON.stringify((await json("rules")).rules);
    const cases: Array<[string[], number, RegExp]> = [
      [["lock", "no-such-cgroup"], 1, /does not exist/],
      [["lock", "/cgw/*/x"], 2, /only the last component/],
      [["lock", "/tmp"], 1, /not on cgroup2/],
      [["lock"], 2, /./],
      [["lock", `/${P.L}`, "--sideways"], 2, /unknown option --sideways/],
      [["allow", `/${P.L}`], 2, /at least one selector/],
      [["allow", `/${P.L}`, "--pid", "999999"], 1, /process 999999 does not exist/],
      [["allow", `/${P.L}`, "--exe", "/no/such/exe"], 1, /does not exist/],
      [["allow", `/${P.L}`, "--uid", "1", "--user", "root"], 2, /give one/],
      [["allow", `/${P.L}`, "--uid", "1", "--uid", "2"], 2, /given 2 times/],
      [["allow", `/${P.L}`, "--user", "no-such-user-here"], 1, /no user named/],
      [["remove", "abc"], 2, /positive number/],
    ];
    for (const [args, code, message] of cases) {
      const r = await cgw(...args);
      expect({ args, code: r.code }).toEqual({ args, code });
      expect(r.err).toMatch(message);
      expect(r.err.trim().split("\n").length).toBe(1);
    }
    expect(JSON.stringify((await json("rules")).rules)).toBe(before);
  });

  test("rules flag an --exe rule whose binary was replaced, with the fix", async () => {
    await reset();
    const exe = "/tmp/cgw-replaced-mover";
    copyFileSync(MOVER, exe);
    const r = await json("allow", `/${P.L}`, "--exe", exe);
    rmSync(exe);
    copyFileSync(MOVER, exe); // a package update: same path, new inode
    const text = await ok("rules");
    expect(text).toContain("stale:");
    expect(text).toContain("was replaced");
    expect(text).toContain("re-run the allow command");
    const listed = (await json("rules")).rules.find((x: { id: number }) => x.id === r.rule.id);
    expect(listed.warnings.join(" ")).toContain("was replaced");
  });

  test("a --cgroup selector whose path has no cgroup (a typo) is flagged waiting, and binds once the cgroup exists", async () => {
    await reset();
    const made = await cgw("allow", `/${P.L}`, "--cgroup", "/cgw/p/nope");
    expect(made.code).toBe(0);
    expect(made.out).toContain("! waiting: no cgroup exists at /cgw/p/nope, the --cgroup selector's path");
    const listed = () => json("rules").then((r) => r.rules.find((x: { kind: string }) => x.kind === "allow"));
    expect((await listed()).selectors.cgroup).toMatchObject({ path: "/cgw/p/nope", state: "waiting", cgroups: [] });
    expect(await ok("rules")).toContain("! waiting: no cgroup exists at /cgw/p/nope");
    mkcg("cgw/p/nope");
    const now = await listed();
    expect(now.selectors.cgroup.state).toBe("bound");
    expect(now.warnings).toEqual([]);
    rmdirSync(join(CGROOT, "cgw/p/nope"));
  });

  test("a rule whose cgroup is gone waits for its path again", async () => {
    await reset();
    mkcg("cgw/gone");
    await ok("lock", "/cgw/gone");
    rmdirSync(join(CGROOT, "cgw/gone"));
    expect(await ok("rules")).toContain("/cgw/gone  in,out,within enforce  [waiting, 1 bind since made]");
  });

  test("rules outlive the command; the binary sees and enforces the same policy; unload ends enforcement", async () => {
    await reset();
    place(task.pid, P.La);
    expect(binary("lock", `/${P.L}`, "--out").code).toBe(0);
    const listed = binary("rules", "--json");
    expect(JSON.parse(listed.out).rules.map((r: { kind: string; path: string }) => `${r.kind} ${r.path}`)).toEqual([`lock /${P.L}`]);
    expect(await actor.moveProcs(task.pid, P.O)).toBe(EPERM);
    expect(binary("unload").code).toBe(0);
    expect(await actor.moveProcs(task.pid, P.O)).toBe(0);
    await ok("load");
  });

  test("concurrent invocations all land, and the policy stays consistent", async () => {
    await reset();
    const procs = [1, 2, 3, 4].map((uid) =>
      Bun.spawn(["dist/cgwarden", "allow", `/${P.L}`, "--uid", String(100 + uid)], { stdout: "pipe", stderr: "pipe" }),
    );
    const codes = await Promise.all(procs.map((p) => p.exited));
    expect(codes).toEqual([0, 0, 0, 0]);
    const rules = (await json("rules")).rules;
    expect(rules.map((r: { selectors: { uid: number } }) => r.selectors.uid).sort()).toEqual([101, 102, 103, 104]);
    expect(rules.every((r: { state: string }) => r.state === "bound")).toBe(true);
  });

  test("a full map gives a clear error and leaves nothing half-written", async () => {
    await ok("unload");
    await ok("load", "--max-locks", "2");
    mkcg("cgw/full1", "cgw/full2", "cgw/full3");
    await ok("lock", "/cgw/full1");
    await ok("lock", "/cgw/full2");
    const before = (await json("rules")).rules;
    const r = await cgw("lock", "/cgw/full3");
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/map is full; nothing was changed/);
    expect((await json("rules")).rules).toEqual(before);
    await ok("unload");
    await ok("load");
  });

  test("a policy command loads cgwarden first when needed, and says so", async () => {
    await ok("unload");
    const r = await cgw("lock", `/${P.L}`);
    expect(r.code).toBe(0);
    expect(r.err).toContain("cgwarden was not loaded; loaded it");
    expect((await json("status")).loaded).toBe(true);
  });
});
