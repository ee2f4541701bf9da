// Policy as code: rules bound to paths and templates, on a real kernel.
// A rule names a path; the cgroup_mkdir tracepoint binds whatever cgroup is
// created there before anything can migrate into it, rmdir unbinds it, and
// `apply` swaps whole policies in one step.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, renameSync, rmdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { BINARY, CGROOT, EPERM, KERNEL, MOVER, Mover, binary, cgroupId, cgroupOf, cgw, cleanup, json, mkcg, ok, place } from "./harness.ts";

afterAll(cleanup);

const B = "cgw/bind";
const OUTSIDE = `${B}/outside`;
const fs = (p: string) => join(CGROOT, p);

let actor: Mover;
let task: Mover;

beforeAll(async () => {
  mkcg(B, OUTSIDE, `${B}/svc`, `${B}/sw/p`, `${B}/sw/q`, `${B}/race`, `${B}/tpl`);
  await ok("load");
  actor = await Mover.start({ cgroup: OUTSIDE });
  task = await Mover.start({ cgroup: OUTSIDE });
});

const file = (name: string, text: string) => {
  const p = `/tmp/cgw-bind-${name}`;
  writeFileSync(p, text);
  return p;
};

/** The test runner itself (bun) moves tasks with place(); locks --out would hold it too. */
const RUNNER = process.execPath;

const ruleAt = async (path: string) => (await json("rules")).rules.find((r: any) => r.path === path);

describe(`path binding on ${KERNEL}`, () => {
  test("a rule for a path that does not exist waits, and binds when the cgroup is created", async () => {
    await ok("apply", file("empty.toml", ""));
    const path = `/${B}/svc/later.service`;
    const made = await json("lock", path, "--out");
    expect(made.rule).toMatchObject({ path, state: "waiting", binds: 0 });
    await ok("allow", path, "--exe", RUNNER);
    mkdirSync(fs(path.slice(1)));
    const bound = await ruleAt(path);
    expect(bound).toMatchObject({ state: "bound", binds: 1, cgroups: [Number(cgroupId(path.slice(1)))] });
    place(task.pid, path.slice(1));
    expect(await actor.moveProcs(task.pid, OUTSIDE)).toBe(EPERM);
    expect(cgroupOf(task.pid)).toBe(path);
  });

  test("a service cgroup removed and re-created 20 times stays locked every time", async () => {
    const path = `${B}/svc/later.service`;
    const outcomes: number[] = [];
    for (let i = 0; i < 20; i++) {
      // As systemd does on restart: the old cgroup goes, a new one (a new id) comes.
      place(task.pid, OUTSIDE);
      rmdirSync(fs(path));
      expect((await ruleAt(`/${path}`)).state).toBe("waiting");
      mkdirSync(fs(path));
      place(task.pid, path);
      outcomes.push(await actor.moveProcs(task.pid, OUTSIDE));
    }
    expect(outcomes).toEqual(Array(20).fill(EPERM));
    const r = await ruleAt(`/${path}`);
    expect(r).toMatchObject({ state: "bound", binds: 21 });
    console.log(`binding: 20 re-creations, 20 moves out denied, rule bound ${r.binds} times`);
    place(task.pid, OUTSIDE);
  });

  test("a bound cgroup cannot be renamed out from under its rule (cgroup2 refuses renames)", async () => {
    const path = `${B}/svc/later.service`;
    let code = "";
    try {
      renameSync(fs(path), fs(`${B}/svc/renamed.service`));
    } catch (e) {
      code = (e as NodeJS.ErrnoException).code ?? "";
    }
    expect(code).toBe("EPERM");
    expect(existsSync(fs(path))).toBe(true);
    expect((await ruleAt(`/${path}`)).state).toBe("bound");
  });

  test("cgroups created while the policy changes are all bound: applies, lock, unlock, epoch flips", async () => {
    // Two policies that both lock /B/churn/*.service --in, but differ, so every apply writes the other epoch and flips.
    const churn = `${B}/churn`;
    mkcg(churn, `${B}/other`);
    const lockIn = `[[lock]]\npath = "/${churn}/*.service"\ndirections = ["in"]\n`;
    const a = file("churn-a.toml", lockIn);
    const b = file("churn-b.toml", `${lockIn}\n[[lock]]\npath = "/${B}/other"\ndirections = ["out"]\n`);
    await ok("apply", a);
    // A cgroup every 20 ms, for as long as the changes run.
    const creator = Bun.spawn(
      [process.execPath, "-e", `const { mkdirSync } = require("node:fs"); console.log("up"); for (let i = 0; ; i++) { mkdirSync("${fs(churn)}/s" + i + ".service"); Bun.sleepSync(20); }`],
      { stdout: "pipe", stderr: "inherit" },
    );
    // Under emulation Bun takes a second to start: the changes begin once it creates.
    await (creator.stdout as ReadableStream<Uint8Array>).getReader().read();
    const changes: string[] = [];
    for (let round = 0; round < 3; round++) {
      await ok("apply", b);
      await ok("apply", a);
      await ok("lock", `/${B}/other`, "--out");
      await ok("unlock", `/${B}/other`);
      changes.push("apply b", "apply a", "lock", "unlock");
    }
    creator.kill(9);
    await creator.exited;
    const { readdirSync } = await import("node:fs");
    const made = readdirSync(fs(churn)).filter((n) => /^s\d+\.service$/.test(n));
    let admitted = 0;
    for (const name of made) if ((await actor.moveProcs(task.pid, `${churn}/${name}`)) !== EPERM) admitted++;
    console.log(`binding churn: ${made.length} cgroups created during ${changes.length} policy changes, ${admitted} admitted a move in`);
    expect(made.length).toBeGreaterThan(20);
    expect(admitted).toBe(0);
    place(task.pid, OUTSIDE);
    await ok("apply", file("empty-after-churn.toml", ""));
  });

  test("creation raced against migration: no move or clone3 ever reaches an unbound cgroup", async () => {
    // lock --in on paths that do not exist; one process creates and at once migrates, another spins on cgroup.procs.
    const exact = `${B}/race/x`;
    const tmpl = `${B}/tpl/r.service`;
    await ok("apply", file("race.toml", `[[lock]]\npath = "/${exact}"\ndirections = ["in"]\n\n[[lock]]\npath = "/${B}/tpl/*.service"\ndirections = ["in"]\n`));
    const spinner = await Mover.start({ cgroup: OUTSIDE });
    let totals = { created: 0, moved: 0, cloned: 0, denied: 0, spinAttempts: 0, spinMoved: 0 };
    for (const path of [exact, tmpl]) {
      const spin = spinner.request(`spin-move ${task.pid} ${fs(path)} 4000`);
      const created = await actor.request(`create-move ${task.pid} ${fs(path)} 150`);
      const [, moved, cloned, denied] = created.split(" ").map(Number);
      const [, attempts, spinMoved] = (await spin).split(" ").map(Number);
      totals = {
        created: totals.created + 150,
        moved: totals.moved + moved!,
        cloned: totals.cloned + cloned!,
        denied: totals.denied + denied!,
        spinAttempts: totals.spinAttempts + attempts!,
        spinMoved: totals.spinMoved + spinMoved!,
      };
    }
    console.log(`binding race: ${totals.created} creations, ${totals.denied} moves and clones denied, ${totals.moved + totals.cloned} let through; spinner reached cgroup.procs ${totals.spinAttempts} times, ${totals.spinMoved} let through`);
    expect(totals.moved + totals.cloned + totals.spinMoved).toBe(0);
    expect(totals.denied).toBe(2 * totals.created);
    expect(totals.spinAttempts).toBeGreaterThan(0);
    expect(cgroupOf(task.pid)).toBe(`/${OUTSIDE}`);
  }, 120_000);
});

describe(`templates on ${KERNEL}`, () => {
  test("each matching cgroup is locked on its own: a move between two services is out of the first", async () => {
    const dir = `${B}/tpl`;
    mkcg(`${dir}/a.service`, `${dir}/b.service`, `${dir}/c.scope`);
    await ok("apply", file("tpl.toml", `[[lock]]\npath = "/${dir}/*.service"\ndirections = ["out"]\n\n[[allow]]\npath = "/${dir}/*.service"\nexe = "${RUNNER}"\n`));
    const rule = await ruleAt(`/${dir}/*.service`);
    expect(rule).toMatchObject({ state: "bound", template: true });
    expect(rule.cgroups.length).toBe(2);
    place(task.pid, `${dir}/a.service`);
    expect(await actor.moveProcs(task.pid, `${dir}/b.service`)).toBe(EPERM);
    expect(await actor.moveProcs(task.pid, OUTSIDE)).toBe(EPERM);
    place(task.pid, `${dir}/c.scope`);
    expect(await actor.moveProcs(task.pid, OUTSIDE)).toBe(0); // .scope is not matched
    // A service created later is matched too.
    mkcg(`${dir}/d.service`);
    place(task.pid, `${dir}/d.service`);
    expect(await actor.moveProcs(task.pid, OUTSIDE)).toBe(EPERM);
    // An allow on the template lets its actor through every matching cgroup's lock.
    await ok("allow", `/${dir}/*.service`, "--exe", MOVER, "--uid", "0");
    expect(await actor.moveProcs(task.pid, OUTSIDE)).toBe(0);
    const r = await cgw("lock", `/${dir}/d*`);
    expect(r.code).toBe(1);
    expect(r.err).toContain("can both match one cgroup");
  });
});

describe(`apply and export on ${KERNEL}`, () => {
  const policy = `# test policy
[settings]
mode = "enforce"
record = "denials"

[[lock]]
path = "/${B}/svc/*.service"
directions = ["out", "within"]

[[lock]]
path = "/${B}/sw/p"
directions = ["out"]
mode = "audit"

[[allow]]
path = "/${B}/svc/*.service"
exe = "${MOVER}"
user = "root"

[[delegate]]
path = "/${B}/svc/later.service"
cgroup = "/${OUTSIDE}"
`;

  test("apply replaces the whole policy; the same file again is a no-op that says so", async () => {
    await ok("lock", `/${B}/not-in-the-file`);
    const first = await json("apply", file("p.toml", policy));
    expect(first.changed).toBe(true);
    expect(first.added.length).toBe(4);
    expect(first.removed.map((r: any) => r.path)).toContain(`/${B}/not-in-the-file`);
    const again = await json("apply", file("p.toml", policy));
    expect(again).toMatchObject({ changed: false, added: [], removed: [], updated: [], unchanged: 4 });
    const text = await ok("apply", file("p.toml", policy));
    expect(text).toContain("already matches; nothing changed");
  });

  test("status says where the policy in force came from: when, which command, which file and its digest", async () => {
    const other = policy.replace('directions = ["out"]\nmode = "audit"', 'directions = ["out"]');
    const path = file("unit.toml", other);
    const r = Bun.spawnSync([BINARY, "apply", path], { env: { ...process.env, CGWARDEN_ORIGIN: "unit" }, stdout: "pipe", stderr: "pipe" });
    expect(r.exitCode).toBe(0);
    const applied = (await json("status")).applied;
    expect(applied).toMatchObject({ origin: "unit", by: "apply", file: path, sha256: new Bun.CryptoHasher("sha256").update(other).digest("hex") });
    expect(Date.now() - Date.parse(applied.at)).toBeLessThan(10 * 60_000);
    expect(await ok("status")).toContain(`by cgwarden.service, 'apply' of ${path}`);
    await ok("lock", `/${B}/by-hand`);
    expect((await json("status")).applied).toMatchObject({ origin: "command", by: "lock", file: null, sha256: null });
    await ok("apply", file("p.toml", policy));
  });

  test("--dry-run prints the difference and changes nothing", async () => {
    const before = await ok("export");
    const other = policy.replace('directions = ["out"]\nmode = "audit"', 'directions = ["in"]');
    const dry = await json("apply", "--dry-run", file("q.toml", other));
    expect(dry).toMatchObject({ changed: true, dryRun: true });
    expect(dry.updated.map((u: any) => u.rule)).toEqual([`lock /${B}/sw/p in enforce`]);
    expect(await ok("export")).toBe(before);
  });

  test("export round-trips: applying its TOML or JSON is a no-op", async () => {
    const toml = await ok("export");
    expect((await json("apply", file("e.toml", toml))).changed).toBe(false);
    const asJson = await ok("export", "--format", "json");
    expect((await json("apply", file("e.json", asJson))).changed).toBe(false);
    // Through a pipe too, with the compiled binary, as a provisioning script would.
    const p = Bun.spawnSync(["sh", "-c", `${BINARY} export | ${BINARY} apply - --json`], { stdout: "pipe", stderr: "pipe" });
    expect(JSON.parse(p.stdout.toString()).changed).toBe(false);
  });

  test.each([
    ["a syntax error", `[[lock]\npath = "/a"\n`, /bad\.toml:1: /],
    ["an unknown key", `[[lock]]\npath = "/a"\nsideways = true\n`, /bad\.toml:3: lock\[0\]\.sideways: unknown key 'sideways'/],
    ["a bad path", `[[lock]]\npath = "relative/path"\n`, /bad\.toml:2: lock\[0\]\.path: /],
    ["an unknown user", `[[allow]]\npath = "/a"\nuser = "nosuchuser"\n`, /bad\.toml:3: allow\[0\]\.user: no user named 'nosuchuser'/],
    ["a template in the wrong place", `[[lock]]\npath = "/a/*/b"\n`, /bad\.toml:2: lock\[0\]\.path: .*only in the last component/],
    ["a file over the capacities", Array.from({ length: 65 }, (_, i) => `[[allow]]\npath = "/a"\nuid = ${i}\n`).join("\n"), /bad\.toml:\d+: allow\[64\]: allow rules on \/a exceed 64/],
  ])("a bad file changes nothing: %s", async (_name, text, error) => {
    const before = await ok("export");
    const r = binary("apply", file("bad.toml", text));
    expect(r.code).toBe(1);
    expect(r.err.trim().split("\n").length).toBe(1);
    expect(r.err).toMatch(error);
    expect(await ok("export")).toBe(before);
  });
});

describe(`atomic replace on ${KERNEL}`, () => {
  test("policies swapped while migrations run: every verdict is one policy's, never a mix", async () => {
    // Each policy lets the actor (root, running the mover) move the task p -> q, and q -> p is never
    // locked; only a half-applied policy (the lock without its allow) could deny one of these moves.
    const p = `/${B}/sw/p`;
    const allowBy = (sel: string) => `[[lock]]\npath = "${p}"\ndirections = ["out"]\n\n[[allow]]\npath = "${p}"\n${sel}\n`;
    const policies = [allowBy("uid = 0"), allowBy(`exe = "${MOVER}"`), "", allowBy(`cgroup = "/${OUTSIDE}"`)];
    place(task.pid, `${B}/sw/p`);
    const bouncing = actor.request(`bounce-for ${task.pid} ${fs(`${B}/sw/q`)} ${fs(`${B}/sw/p`)} 20000`);
    let swaps = 0;
    const started = Date.now();
    while (Date.now() - started < 17_000) {
      await ok("apply", file("swap.toml", policies[swaps % policies.length]!));
      swaps++;
    }
    const [, moves, failures] = (await bouncing).split(" ").map(Number);
    console.log(`atomic replace: ${swaps} policy swaps during ${moves} migrations, ${failures} denied (0 expected)`);
    expect(swaps).toBeGreaterThanOrEqual(8);
    expect(moves).toBeGreaterThan(1000);
    expect(failures).toBe(0);
  }, 120_000);
});
