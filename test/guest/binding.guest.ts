// Policy as code: rules bound to paths and templates, on a real kernel.
// A rule names a path; the cgroup_mkdir tracepoint binds whatever cgroup is
// created there before anything can migrate into it, rmdir unbinds it, and
// `apply` swaps whole policies in one step.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readdirSync, renameSync, rmdirSync, writeFileSync } from "node:fs";
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

/**
 * Runs `creatorLoop` (a loop body using mkdirSync, in a Bun process of its
 * own) while two policies that both lock `template --in`, but differ, are
 * applied in turn, and `other` is locked and unlocked: 12 changes, each
 * writing the other epoch and flipping. Then tries a move into every
 * `.service` created below the template's directory.
 */
async function churnDuringChanges(template: string, other: string, creatorLoop: string): Promise<{ made: number; changes: number; admitted: number }> {
  const top = template.slice(1, template.indexOf("/*"));
  mkcg(top, other);
  const lockIn = `[[lock]]\npath = "${template}"\ndirections = ["in"]\n`;
  const name = top.replace(/\W/g, "-");
  const a = file(`${name}-a.toml`, lockIn);
  const b = file(`${name}-b.toml`, `${lockIn}\n[[lock]]\npath = "/${other}"\ndirections = ["out"]\n`);
  await ok("apply", a);
  const creator = Bun.spawn([process.execPath, "-e", `const { mkdirSync } = require("node:fs"); console.log("up"); ${creatorLoop}`], { stdout: "pipe", stderr: "inherit" });
  // Under emulation Bun takes a second to start: the changes begin once it creates.
  await (creator.stdout as ReadableStream<Uint8Array>).getReader().read();
  let changes = 0;
  for (let round = 0; round < 3; round++) {
    await ok("apply", b);
    await ok("apply", a);
    await ok("lock", `/${other}`, "--out");
    await ok("unlock", `/${other}`);
    changes += 4;
  }
  creator.kill(9);
  await creator.exited;
  const made: string[] = [];
  const visit = (dir: string) => {
    for (const e of readdirSync(fs(dir), { withFileTypes: true }))
      if (e.isDirectory()) {
        if (e.name.endsWith(".service")) made.push(`${dir}/${e.name}`);
        else visit(`${dir}/${e.name}`);
      }
  };
  visit(top);
  let admitted = 0;
  for (const path of made) if ((await actor.moveProcs(task.pid, path)) !== EPERM) admitted++;
  place(task.pid, OUTSIDE);
  await ok("apply", file(`${name}-empty.toml`, ""));
  return { made: made.length, changes, admitted };
}

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
    const churn = `${B}/churn`;
    // A cgroup every 20 ms, for as long as the changes run.
    const r = await churnDuringChanges(`/${churn}/*.service`, `${B}/other`, `for (let i = 0; ; i++) { mkdirSync("${fs(churn)}/s" + i + ".service"); Bun.sleepSync(20); }`);
    console.log(`binding churn: ${r.made} cgroups created during ${r.changes} policy changes, ${r.admitted} admitted a move in`);
    expect(r.made).toBeGreaterThan(20);
    expect(r.admitted).toBe(0);
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

describe(`recursive templates (**) on ${KERNEL}`, () => {
  const R = `${B}/deep`;
  const ruleFile = (directions: string) =>
    file(`deep-${directions}.toml`, `[[lock]]\npath = "/${R}/**/*.service"\ndirections = ["${directions}"]\n\n[[allow]]\npath = "/${R}/**/*.service"\nexe = "${RUNNER}"\n`);

  test("bind every matching cgroup at any depth, existing and created later; the outermost match wins", async () => {
    mkcg(`${R}/a.service/inner.service`, `${R}/system-getty.slice/getty@tty1.service`, `${R}/x.slice/y.slice/z.service`, `${R}/x.slice/w.scope`);
    await ok("apply", ruleFile("out"));
    const rule = await ruleAt(`/${R}/**/*.service`);
    const ids = (...ps: string[]) => ps.map((p) => Number(cgroupId(`${R}/${p}`))).sort((a, b) => a - b);
    expect(rule).toMatchObject({ state: "bound", template: true });
    expect([...rule.cgroups].sort((a: number, b: number) => a - b)).toEqual(ids("a.service", "system-getty.slice/getty@tty1.service", "x.slice/y.slice/z.service"));
    const outcome = async (from: string, to: string) => {
      place(task.pid, `${R}/${from}`);
      return actor.moveProcs(task.pid, to);
    };
    const seen = {
      getty: await outcome("system-getty.slice/getty@tty1.service", OUTSIDE),
      deep: await outcome("x.slice/y.slice/z.service", `${R}/x.slice`),
      scope: await outcome("x.slice/w.scope", OUTSIDE),
      // Inside a matched service: its own business (Delegate=yes), held by the service's lock only.
      innerWithin: await outcome("a.service/inner.service", `${R}/a.service`),
      innerOut: await outcome("a.service/inner.service", OUTSIDE),
    };
    mkcg(`${R}/n.slice/m.slice/later.service`);
    const later = await outcome("n.slice/m.slice/later.service", OUTSIDE);
    console.log(`recursive template: getty ${seen.getty}, level-4 service ${seen.deep}, scope ${seen.scope}, inside a service within ${seen.innerWithin} out ${seen.innerOut}, created later ${later} (errno; ${EPERM} = denied)`);
    expect(seen).toEqual({ getty: EPERM, deep: EPERM, scope: 0, innerWithin: 0, innerOut: EPERM });
    expect(later).toBe(EPERM);
    expect((await ruleAt(`/${R}/**/*.service`)).cgroups.length).toBe(4);
    place(task.pid, OUTSIDE);
  });

  test("10,000 cgroups under one recursive template, half there at apply and half created after: every one bound", async () => {
    const many = `${R}/many`;
    const make = (from: number, to: number) => {
      for (let s = from; s < to; s++) {
        mkdirSync(fs(`${many}/s${s}.slice`), { recursive: true });
        for (let u = 0; u < 100; u++) mkdirSync(fs(`${many}/s${s}.slice/u${u}.service`));
      }
    };
    await ok("apply", file("empty-many.toml", ""));
    make(0, 50);
    await ok("apply", ruleFile("in"));
    make(50, 100);
    const rule = await ruleAt(`/${R}/**/*.service`);
    const ids = new Set<number>(rule.cgroups);
    let missing = 0;
    for (let s = 0; s < 100; s++) for (let u = 0; u < 100; u++) if (!ids.has(Number(cgroupId(`${many}/s${s}.slice/u${u}.service`)))) missing++;
    let admitted = 0;
    for (let i = 0; i < 40; i++) if ((await actor.moveProcs(task.pid, `${many}/s${(i * 37) % 100}.slice/u${(i * 53) % 100}.service`)) !== EPERM) admitted++;
    // tree over the same 10,101 cgroups: every service shown held by the template, nothing uncovered.
    const t0 = performance.now();
    const tree = await cgw("tree", `/${many}`, "--json");
    const treeMs = performance.now() - t0;
    const rows = JSON.parse(tree.out).cgroups as Array<{ path: string; locks: unknown[]; uncovered: string | null }>;
    const heldRows = rows.filter((r) => r.path.endsWith(".service") && r.locks.length === 1).length;
    // The baseline in the same guest: find(1) walking the same directories.
    const f0 = performance.now();
    Bun.spawnSync(["find", fs(many), "-type", "d"], { stdout: "ignore" });
    const findMs = performance.now() - f0;
    console.log(`recursive template: 10000 services in 100 slices (5000 before apply, 5000 after), ${10000 - missing} bound, ${missing} missed; 40 sampled moves in, ${admitted} admitted; tree --json of ${rows.length} cgroups in ${treeMs.toFixed(0)} ms under TCG (find -type d over them: ${findMs.toFixed(0)} ms, ${(treeMs / findMs).toFixed(1)}x), ${heldRows} shown locked`);
    expect(missing).toBe(0);
    expect(admitted).toBe(0);
    expect(rows.length).toBe(10_101);
    expect(heldRows).toBe(10_000);
    expect(rows.filter((r) => r.uncovered)).toEqual([]);
    await ok("apply", file("empty-many-after.toml", ""));
    for (let s = 0; s < 100; s++) {
      for (let u = 0; u < 100; u++) rmdirSync(fs(`${many}/s${s}.slice/u${u}.service`));
      rmdirSync(fs(`${many}/s${s}.slice`));
    }
  }, 600_000);

  test("nested slices created while the policy changes are all bound: applies, lock, unlock, epoch flips", async () => {
    const churn = `${R}/churn`;
    // Every 20 ms a service two new slices deep, so the walk meets directories created under it (300 at most: each apply walks them all).
    const r = await churnDuringChanges(`/${churn}/**/*.service`, `${B}/other2`, `for (let i = 0; i < 300; i++) { mkdirSync("${fs(churn)}/d" + (i % 7) + ".slice/e" + i + ".slice/s" + i + ".service", { recursive: true }); Bun.sleepSync(20); }`);
    console.log(`recursive binding churn: ${r.made} services created two new slices deep during ${r.changes} policy changes, ${r.admitted} admitted a move in`);
    expect(r.made).toBeGreaterThan(20);
    expect(r.admitted).toBe(0);
  }, 300_000);

  test("a delegated user naming cgroups to match the rule gains nothing; level 32 is judged, deeper levels are not", async () => {
    const deleg = `${R}/deleg.slice`;
    mkcg(deleg);
    Bun.spawnSync(["chown", "-R", "1000", fs(deleg)]);
    await ok("apply", ruleFile("out"));
    const user = await Mover.start({ uid: 1000, cgroup: deleg });
    const asUser = (...argv: string[]) => Bun.spawnSync(["setpriv", "--reuid=1000", "--regid=1000", "--clear-groups", ...argv]);
    // The user's own cgroup named like a service is bound: the lock holds the user too, as it holds root.
    expect(asUser("mkdir", fs(`${deleg}/mine.service`)).exitCode).toBe(0);
    expect(await user.moveProcs(user.pid, `${deleg}/mine.service`)).toBe(0);
    const ownOut = await user.moveProcs(user.pid, deleg);
    // Nothing the user names reaches outside the subtree the user owns.
    const foreign = asUser("mkdir", fs(`${R}/planted.service`)).exitCode;
    // Depth: level 32 is judged; a service the user nests deeper is bound but its chain is judged to level 32 (bpf/cgwarden.h).
    const levelOf = (p: string) => p.split("/").length;
    let at = `${deleg}/tower.slice`;
    while (levelOf(at) < 31) at += "/t.slice";
    expect(asUser("mkdir", "-p", fs(`${at}/l32.service/l33.slice/l34.service`)).exitCode).toBe(0);
    const l32 = `${at}/l32.service`;
    expect(levelOf(l32)).toBe(32);
    place(task.pid, l32);
    const out32 = await actor.moveProcs(task.pid, OUTSIDE);
    place(task.pid, `${l32}/l33.slice/l34.service`);
    const out34 = await actor.moveProcs(task.pid, OUTSIDE); // out of l32.service: judged at level 32
    const within34 = await actor.moveProcs(task.pid, `${l32}/l33.slice`);
    const bound = new Set<number>((await ruleAt(`/${R}/**/*.service`)).cgroups);
    console.log(`recursive template, delegated user: own service bound ${bound.has(Number(cgroupId(`${deleg}/mine.service`)))}, own move out ${ownOut}, mkdir outside own subtree exit ${foreign}; level 32 out ${out32}, level 34 out ${out34}, level 34 to its parent ${within34}`);
    expect(ownOut).toBe(EPERM);
    expect(foreign).not.toBe(0);
    expect(out32).toBe(EPERM);
    expect(out34).toBe(EPERM);
    // Inside l32.service (a matched service), l34.service is the service's own business: outermost match wins.
    expect(within34).toBe(0);
    expect(bound.has(Number(cgroupId(`${l32}/l33.slice/l34.service`)))).toBe(false);
    place(task.pid, OUTSIDE);
    user.kill();
    await ok("apply", file("empty-after-deleg.toml", ""));
  }, 300_000);

  test("bad forms are refused with the file's line", async () => {
    for (const [path, says] of [
      [`/${R}/**`, "'**'"],
      [`/${R}/a**b/*.service`, "'**'"],
      [`/${R}/**/x/**/*.service`, "'**'"],
    ] as const) {
      const r = await cgw("apply", file("bad-deep.toml", `# a comment\n[[lock]]\npath = "${path}"\n`));
      expect(r.code).toBe(1);
      expect(r.err).toContain("bad-deep.toml:3:");
      expect(r.err).toContain(says);
    }
    const overlap = await cgw("apply", file("bad-overlap.toml", `[[lock]]\npath = "/${R}/**/*.service"\n\n[[lock]]\npath = "/${R}/**/a*"\n`));
    expect(overlap.code).toBe(1);
    expect(overlap.err).toContain("can both match one cgroup");
    expect(overlap.err).toContain("bad-overlap.toml:4:");
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
    ["a template in the wrong place", `[[lock]]\npath = "/a/*/b"\n`, /bad\.toml:2: lock\[0\]\.path: .*in the last component/],
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
