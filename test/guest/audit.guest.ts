// Every decision is visible after the fact: records, the flight recorder, audit --follow, mode switching, explain.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { CGROOT, EPERM, EXPECTED_MECHANISM, KERNEL, MOVER, Mover, cgroupId, cgroupOf, cgw, cleanup, json, mkcg, ok, place } from "./harness.ts";

afterAll(cleanup);

const P = { L: "cgw/a/L", La: "cgw/a/L/a", O: "cgw/a/O", actors: "cgw/a/actors" };
const T = { dom: "cgw/at", L: "cgw/at/L", O: "cgw/at/O" };

let actor: Mover;
let task: Mover;
let threadTask: Mover;
let tid = 0;

beforeAll(async () => {
  mkcg(P.La, P.O, P.actors, T.dom);
  for (const t of [T.L, T.O]) {
    mkcg(t);
    writeFileSync(join(CGROOT, t, "cgroup.type"), "threaded");
  }
  await cgw("unload");
  await ok("load");
  actor = await Mover.start({ cgroup: P.actors });
  task = await Mover.start({ cgroup: P.La });
  threadTask = await Mover.start({ cgroup: T.dom });
  tid = (await threadTask.spawnThreads(1))[0]!;
  writeFileSync(join(CGROOT, T.L, "cgroup.threads"), String(tid));
});

async function reset(): Promise<void> {
  for (const r of (await json("rules")).rules) await ok("remove", String(r.id));
  await ok("mode", "enforce");
  await ok("recording", "denials");
}

/** Records as `audit --json` prints them (one JSON object a line). */
async function records(...filters: string[]): Promise<any[]> {
  const out = await ok("audit", "--json", ...filters);
  return out ? out.split("\n").map((l) => JSON.parse(l)) : [];
}

const last = async () => (await records()).at(-1);

describe(`decision records on ${KERNEL}`, () => {
  test("a denied procs write is recorded with rule, actor, task, src, dst and via", async () => {
    await reset();
    place(task.pid, P.La);
    const lock = await json("lock", `/${P.L}`, "--out");
    expect(await actor.moveProcs(task.pid, P.O)).toBe(EPERM);
    const r = await last();
    expect(r).toMatchObject({
      verdict: "denied",
      via: "procs",
      mechanism: EXPECTED_MECHANISM,
      rule: { id: lock.rule.id, cgroup: `/${P.L}` },
      src: { path: `/${P.La}`, id: Number(cgroupId(P.La)) },
      dst: { path: `/${P.O}`, id: Number(cgroupId(P.O)) },
      actor: { pid: actor.pid, tgid: actor.pid, euid: 0, comm: "mover", cgroup: `/${P.actors}`, exe: { path: MOVER } },
      task: { pid: task.pid, tgid: task.pid, comm: "mover" },
      threadgroup: true,
    });
  });

  test("a denied thread move is recorded as via threads, not threadgroup", async () => {
    await reset();
    const lock = await json("lock", `/${T.L}`, "--out");
    expect(await actor.moveThread(tid, T.O)).toBe(EPERM);
    expect(await last()).toMatchObject({
      verdict: "denied",
      via: "threads",
      rule: { id: lock.rule.id },
      src: { path: `/${T.L}` },
      dst: { path: `/${T.O}` },
      task: { pid: tid, tgid: threadTask.pid },
      threadgroup: false,
    });
  });

  test("a denied clone3 is recorded as via clone from the actor's cgroup", async () => {
    await reset();
    const lock = await json("lock", `/${P.L}`, "--in");
    expect(await actor.cloneInto(P.La)).toBe(EPERM);
    expect(await last()).toMatchObject({ verdict: "denied", via: "clone", rule: { id: lock.rule.id }, src: { path: `/${P.actors}` }, dst: { path: `/${P.La}` } });
  });

  test("an audit-mode lock lets the move through and records it as audit", async () => {
    await reset();
    place(task.pid, P.La);
    const lock = await json("lock", `/${P.L}`, "--out", "--audit");
    expect(await actor.moveProcs(task.pid, P.O)).toBe(0);
    expect(await last()).toMatchObject({ verdict: "audit", rule: { id: lock.rule.id }, src: { path: `/${P.La}` }, dst: { path: `/${P.O}` } });
    expect((await records("--verdict", "audit")).every((r) => r.verdict === "audit")).toBe(true);
    expect((await records("--verdict", "denied")).every((r) => r.verdict === "denied")).toBe(true);
  });

  test("allowed decisions are recorded only with recording all", async () => {
    await reset();
    place(task.pid, P.La);
    const before = (await records()).length;
    expect(await actor.moveProcs(task.pid, P.O)).toBe(0);
    expect((await records()).length).toBe(before);
    await ok("recording", "all");
    expect(await actor.moveProcs(task.pid, P.La)).toBe(0);
    expect(await last()).toMatchObject({ verdict: "allowed", rule: { id: 0 }, dst: { path: `/${P.La}` } });
  });

  test("filters: --rule and --since", async () => {
    await reset();
    place(task.pid, P.La);
    const lock = await json("lock", `/${P.L}`, "--out");
    expect(await actor.moveProcs(task.pid, P.O)).toBe(EPERM);
    const byRule = await records("--rule", String(lock.rule.id));
    expect(byRule.length).toBeGreaterThan(0);
    expect(byRule.every((r) => r.rule.id === lock.rule.id)).toBe(true);
    expect((await records("--since", "1d")).length).toBeGreaterThanOrEqual(byRule.length);
    await Bun.sleep(1100);
    expect(await records("--since", "1s")).toEqual([]);
    const empty = await cgw("audit", "--since", "1s");
    expect(empty.code).toBe(0);
    expect(empty.out).toContain("no records match");
    expect((await cgw("audit", "--since", "soon")).code).toBe(2);
  });

  test("the table shows time, verdict, actor, task, src → dst and the rule", async () => {
    const text = await ok("audit", "--verdict", "denied");
    const line = text.split("\n").at(-1)!;
    expect(line).toContain("denied");
    expect(line).toContain(`mover[${actor.pid}]`);
    expect(line).toContain(`/${P.La} → /${P.O}`);
    expect(line).toMatch(/rule \d+ on \/cgw\/a\/L/);
  });
});

describe(`flight recorder on ${KERNEL}`, () => {
  test("keeps the newest N records after more than N decisions, and counts the dropped", async () => {
    await reset();
    await ok("unload");
    await ok("load", "--records", "4096");
    await ok("recording", "all");
    place(task.pid, P.La);
    const moves = 4300;
    expect(await actor.request(`bounce ${task.pid} ${join(CGROOT, P.O)} ${join(CGROOT, P.La)} ${moves}`)).toBe("ok 0");
    const status = await json("status");
    expect(status.counters.recorded).toBe(moves);
    expect(status.counters.dropped).toBe(moves - 4096);
    const kept = await records();
    expect(kept.length).toBe(4096);
    expect(kept[0].seq).toBe(moves - 4096 + 1);
    expect(kept.at(-1).seq).toBe(moves);
    expect(kept.at(-1).dst.path).toBe(moves % 2 ? `/${P.O}` : `/${P.La}`);
  });
});

describe(`audit --follow on ${KERNEL}`, () => {
  test("receives records produced while it runs, and only those", async () => {
    await reset();
    place(task.pid, P.La);
    await ok("lock", `/${P.L}`, "--out");
    expect(await actor.moveProcs(task.pid, P.O)).toBe(EPERM); // before following: must not be shown
    const following = cgw("audit", "--follow", "--json", "--limit", "2");
    await Bun.sleep(300);
    expect(await actor.moveProcs(task.pid, P.O)).toBe(EPERM);
    expect(await actor.cloneInto(P.O)).toBe(0);
    expect(await actor.cloneInto(P.La)).toBe(0); // not locked "in": allowed, not recorded
    place(actor.pid, P.La);
    expect(await actor.cloneInto(P.O)).toBe(EPERM);
    const r = await following;
    await reset();
    place(actor.pid, P.actors);
    expect(r.code).toBe(0);
    const seen = r.out.split("\n").map((l) => JSON.parse(l));
    expect(seen.map((x) => x.via)).toEqual(["procs", "clone"]);
    expect(seen.every((x) => x.verdict === "denied")).toBe(true);
  });
});

describe(`mode switching on ${KERNEL}`, () => {
  test("audit mode takes effect at once and enforce restores each lock's own mode", async () => {
    await reset();
    place(task.pid, P.La);
    const enforcing = await json("lock", `/${P.L}`, "--out");
    mkcg("cgw/a/audited");
    const audited = await json("lock", "/cgw/a/audited", "--audit");
    expect(await actor.moveProcs(task.pid, P.O)).toBe(EPERM);
    expect(await json("mode", "audit")).toMatchObject({ changed: true, mode: "audit" });
    expect((await json("rules")).globalMode).toBe("audit");
    expect(await actor.moveProcs(task.pid, P.O)).toBe(0);
    expect(await last()).toMatchObject({ verdict: "audit", rule: { id: enforcing.rule.id } });
    expect((await json("status")).globalMode).toBe("audit");
    place(task.pid, P.La);
    await ok("mode", "enforce");
    expect(await actor.moveProcs(task.pid, P.O)).toBe(EPERM);
    const modes = Object.fromEntries((await json("rules")).rules.map((r: { id: number; mode: string }) => [r.id, r.mode]));
    expect(modes[enforcing.rule.id]).toBe("enforce");
    expect(modes[audited.rule.id]).toBe("audit");
    expect((await json("mode", "enforce")).changed).toBe(false);
    expect((await cgw("mode", "sideways")).code).toBe(2);
  });
});

describe(`explain on ${KERNEL}`, () => {
  test("names the lock, the missing exemption and the command that would allow it; exit 3", async () => {
    await reset();
    place(task.pid, P.La);
    const lock = await json("lock", `/${P.L}`, "--out");
    await ok("allow", `/${P.L}`, "--uid", "4242");
    const r = await cgw("explain", "--task", String(task.pid), "--to", `/${P.O}`, "--actor", String(actor.pid));
    expect(r.code).toBe(3);
    expect(r.out).toContain(`lock rule ${lock.rule.id} on /${P.L} applies (direction out, enforce): no allow or delegation exempts this actor`);
    expect(r.out).toContain(`verdict: deny (EPERM), by rule ${lock.rule.id}`);
    expect(r.out).toContain(`to allow it: cgwarden allow /${P.L} --exe ${MOVER} --uid 0`);
    expect(await actor.moveProcs(task.pid, P.O)).toBe(EPERM);
  });

  test("following its suggestion allows the move, and explain then says which rule exempts", async () => {
    await reset();
    place(task.pid, P.La);
    await ok("lock", `/${P.L}`, "--out");
    const denied = await cgw("explain", "--task", String(task.pid), "--to", `/${P.O}`, "--actor", String(actor.pid), "--json");
    expect(denied.code).toBe(3);
    const allow = await json(...(JSON.parse(denied.out).suggestion as string).split(" ").slice(1));
    const again = await cgw("explain", "--task", String(task.pid), "--to", `/${P.O}`, "--actor", String(actor.pid), "--json");
    expect(again.code).toBe(0);
    expect(JSON.parse(again.out).locks[0].exemptBy).toMatchObject({ ruleId: allow.rule.id, kind: "allow" });
    expect(await actor.moveProcs(task.pid, P.O)).toBe(0);
  });

  test("--via clone judges a move from the actor's own cgroup", async () => {
    await reset();
    await ok("lock", `/${P.L}`, "--in");
    expect((await cgw("explain", "--via", "clone", "--to", `/${P.La}`, "--actor", String(actor.pid))).code).toBe(3);
    expect(await actor.cloneInto(P.La)).toBe(EPERM);
  });

  test("a record from audit --json, fed to explain --record, names the same rule", async () => {
    await reset();
    place(task.pid, P.La);
    const lock = await json("lock", `/${P.L}`, "--out");
    expect(await actor.moveProcs(task.pid, P.O)).toBe(EPERM);
    const rec = await last();
    expect(rec.rule.id).toBe(lock.rule.id);
    const r = await cgw("explain", "--record", String(rec.seq), "--json");
    expect(r.code).toBe(3);
    expect(JSON.parse(r.out)).toMatchObject({ verdict: "deny", ruleId: rec.rule.id, src: `/${P.La}`, dst: `/${P.O}` });
  });

  test("bad input", async () => {
    expect((await cgw("explain", "--to", `/${P.O}`)).code).toBe(2);
    expect((await cgw("explain", "--task", "999999", "--to", `/${P.O}`, "--actor", String(actor.pid))).code).toBe(1);
    expect((await cgw("explain", "--record", "999999")).code).toBe(1);
    expect((await cgw("explain", "--task", String(task.pid), "--to", `/${P.O}`, "--via", "teleport")).code).toBe(2);
    expect(cgroupOf(task.pid)).toBe(`/${P.La}`);
  });
});
