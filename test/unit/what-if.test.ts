// what-if's replay in the pure model: bindings from the recorded paths,
// verdicts grouped by the candidate's rule, and the records' JSON form.
import { describe, expect, test } from "bun:test";
import { Direction } from "../../cli/object/abi.ts";
import { replayRecordOfJson } from "../../cli/audit/records.ts";
import { formatWhatIf, whatIf, type ReplayRecord } from "../../cli/policy/what-if.ts";
import type { IdentifiedRule, RuleSpec } from "../../cli/policy/spec.ts";

const ids = (rules: RuleSpec[]): IdentifiedRule[] => rules.map((spec, i) => ({ id: i + 1, spec }));
const SSHD = { dev: 8n, ino: 100n, path: "/usr/sbin/sshd" };
const SYSTEMD = { dev: 8n, ino: 1n, path: "/usr/lib/systemd/systemd" };

function rec(seq: number, verdict: ReplayRecord["verdict"], src: string | null, dst: string, exe = SYSTEMD, euid = 0): ReplayRecord {
  return { seq, verdict, via: "procs", src, dst, actor: { tgid: 1, startTicks: 5n, euid, exe, cgroup: "/init.scope", comm: "systemd" }, task: { pid: 100 + seq, comm: "sh" } };
}

describe("what-if", () => {
  const candidate = ids([
    { kind: "lock", path: "/system.slice/**/*.service", directions: Direction.out, mode: "enforce" },
    { kind: "allow", path: "/system.slice/ssh.service", selectors: { exe: { path: SYSTEMD.path, dev: SYSTEMD.dev, ino: SYSTEMD.ino }, uid: 0 } },
  ]);
  const records = [
    rec(1, "allowed", "/system.slice/ssh.service", "/user.slice/user-0.slice/session-1.scope"),
    rec(2, "allowed", "/system.slice/system-getty.slice/getty@tty1.service", "/user.slice/user-0.slice/session-2.scope"),
    rec(3, "allowed", "/system.slice/cron.service", "/user.slice/user-0.slice/session-3.scope"),
    rec(4, "audit", "/system.slice/cron.service", "/elsewhere", SSHD),
    rec(5, "denied", "/user.slice", "/elsewhere"),
    rec(6, "allowed", null, "/elsewhere"),
    rec(7, "allowed", "/init.scope", "/system.slice/new.service"),
  ];
  const w = whatIf(candidate, "enforce", records);

  test("each record decided again from its paths; changes grouped by the candidate's rule, denials first", () => {
    expect({ records: w.records, replayed: w.replayed, skipped: w.skipped, changed: w.changed, newlyDenied: w.newlyDenied }).toEqual({ records: 7, replayed: 6, skipped: 1, changed: 4, newlyDenied: 3 });
    expect(w.changes.map((c) => ({ from: c.from, to: c.to, rule: c.rule?.path ?? null, seqs: c.seqs }))).toEqual([
      { from: "allowed", to: "denied", rule: "/system.slice/**/*.service", seqs: [2, 3] },
      { from: "audit", to: "denied", rule: "/system.slice/**/*.service", seqs: [4] },
      { from: "denied", to: "allowed", rule: null, seqs: [5] },
    ]);
  });

  test("the text names the rule, shows examples, and ends with one summary line", () => {
    const lines = formatWhatIf(w);
    expect(lines[0]).toBe("2 allowed → denied, by lock /system.slice/**/*.service (rule 1):");
    expect(lines[1]).toContain("#2 systemd[1] uid 0 (/usr/lib/systemd/systemd) moving sh[102] /system.slice/system-getty.slice/getty@tty1.service → /user.slice/user-0.slice/session-2.scope via procs");
    expect(lines.at(-1)).toBe("6 recorded decisions replayed (1 without cgroup paths skipped), 4 would change: 2 allowed → denied, 1 audit → denied, 1 denied → allowed, 0 denied → audit, 0 allowed → audit, 0 audit → allowed");
  });

  test("records read back from audit --json lines; a bad line is named", () => {
    const line = JSON.stringify({ seq: 9, verdict: "denied", via: "clone", src: { id: 5, path: "/a" }, dst: { id: 6, path: "/b" }, actor: { tgid: 7, euid: 1000, startTicks: "123", cgroup: "/a", comm: "x", exe: { dev: 8, ino: "18446744073709551615", path: null } }, task: { pid: 8, comm: "y" }, tamper: null });
    expect(replayRecordOfJson(line, "f:1")).toEqual({ seq: 9, verdict: "denied", via: "clone", src: "/a", dst: "/b", actor: { tgid: 7, startTicks: 123n, euid: 1000, exe: { dev: 8n, ino: 18446744073709551615n, path: null }, cgroup: "/a", comm: "x" }, task: { pid: 8, comm: "y" } });
    expect(() => replayRecordOfJson("{}", "f:2")).toThrow("f:2: not a record of 'cgwarden audit --json'");
    expect(() => replayRecordOfJson("nope", "f:3")).toThrow("f:3: not JSON");
  });
});
