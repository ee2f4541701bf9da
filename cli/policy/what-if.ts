// What a candidate policy would have decided of recorded migrations.
//
// Each record carries the migration as the kernel saw it: src's, dst's and
// the actor's cgroup paths as they were, the actor's executed identity, uid,
// pid and start time (bpf/cgwarden.h, struct cgw_record). A binding depends
// on the path alone (compile.ts), so the candidate's bindings of those
// cgroups are computed from the paths, and the model (model.ts), which the
// differential test holds equal to the kernel, decides again. Nothing here
// reads the machine: the command gathers records and the candidate.
import type { ModeName, VerdictName } from "../object/abi.ts";
import { bindingFor, compile, modelPolicy } from "./compile.ts";
import { decide, type Policy } from "./model.ts";
import type { IdentifiedRule, RuleSpec } from "./spec.ts";

export type VerdictWord = "allowed" | "denied" | "audit";

/** One recorded decision, as `audit --json` prints it (the fields a replay reads). */
export interface ReplayRecord {
  seq: number;
  verdict: VerdictWord;
  via: string;
  src: string | null;
  dst: string | null;
  actor: { tgid: number; startTicks: bigint; euid: number; exe: { dev: bigint; ino: bigint; path: string | null }; cgroup: string | null; comm: string };
  task: { pid: number; comm: string };
}

export interface WhatIfChange {
  from: VerdictWord;
  to: VerdictWord;
  /** The candidate's rule responsible: the deciding lock, or for an allow the exempting rule; null when no lock of the candidate applies. */
  rule: { id: number; kind: RuleSpec["kind"]; path: string } | null;
  count: number;
  /** Every record of the group by seq: with the unchanged ones' recorded verdicts, the candidate's verdict of each. */
  seqs: number[];
  /** The first few records, in record order. */
  examples: ReplayRecord[];
}

export interface WhatIfReport {
  /** Records given, and those replayed (a record without its paths cannot be). */
  records: number;
  replayed: number;
  skipped: number;
  changed: number;
  /** Let through before (allowed or audit), denied by the candidate: what a provisioning script gates on. */
  newlyDenied: number;
  changes: WhatIfChange[];
}

const WORD: Record<VerdictName, VerdictWord> = { allow: "allowed", deny: "denied", audit: "audit" };
const EXAMPLES = 3;

/** Ids for cgroups known only by path: each path's ancestors get theirs, bound as the candidate binds them. */
class PathIds {
  private readonly ids = new Map<string, bigint>();
  constructor(private readonly policy: Policy, private readonly bindingOf: (path: string) => ReturnType<typeof bindingFor>) {}

  chain(path: string): bigint[] {
    const parts = path === "/" ? [] : path.slice(1).split("/");
    const prefixes = ["/", ...parts.map((_, i) => `/${parts.slice(0, i + 1).join("/")}`)];
    return prefixes.map((p) => this.idOf(p));
  }

  private idOf(path: string): bigint {
    let id = this.ids.get(path);
    if (id === undefined) {
      id = BigInt(this.ids.size + 1);
      this.ids.set(path, id);
      const b = this.bindingOf(path);
      if (b) this.policy.bound.set(id, b);
    }
    return id;
  }
}

/** Decides every record again under the candidate and groups the verdicts that change by the candidate's rule. */
export function whatIf(rules: IdentifiedRule[], globalMode: ModeName, records: ReplayRecord[]): WhatIfReport {
  const c = compile(rules, 0);
  const policy = modelPolicy(c, rules, globalMode, []);
  const ids = new PathIds(policy, (path) => bindingFor(c, path));
  const specs = new Map(rules.map((r) => [r.id, r.spec]));
  const groups = new Map<string, WhatIfChange>();
  const report: WhatIfReport = { records: records.length, replayed: 0, skipped: 0, changed: 0, newlyDenied: 0, changes: [] };
  for (const r of [...records].sort((a, b) => a.seq - b.seq)) {
    if (!r.src || !r.dst || !r.actor.cgroup) {
      report.skipped++;
      continue;
    }
    report.replayed++;
    const d = decide(policy, {
      actor: { tgid: r.actor.tgid, startTicks: r.actor.startTicks, euid: r.actor.euid, exe: { dev: r.actor.exe.dev, ino: r.actor.exe.ino }, cgroupChain: ids.chain(r.actor.cgroup) },
      src: ids.chain(r.src),
      dst: ids.chain(r.dst),
    });
    const to = WORD[d.verdict];
    if (to === r.verdict) continue;
    report.changed++;
    if (to === "denied") report.newlyDenied++;
    const spec = specs.get(d.ruleId);
    const key = `${r.verdict}>${to}>${d.ruleId}`;
    const g = groups.get(key) ?? { from: r.verdict, to, rule: spec ? { id: d.ruleId, kind: spec.kind, path: spec.path } : null, count: 0, seqs: [], examples: [] };
    g.count++;
    g.seqs.push(r.seq);
    if (g.examples.length < EXAMPLES) g.examples.push(r);
    groups.set(key, g);
  }
  // Denials first, then by size: what an admin must look at before enforcing.
  report.changes = [...groups.values()].sort((a, b) => Number(b.to === "denied") - Number(a.to === "denied") || b.count - a.count);
  return report;
}

export function summaryLine(w: WhatIfReport): string {
  const by = (from: VerdictWord, to: VerdictWord) => w.changes.filter((c) => c.from === from && c.to === to).reduce((n, c) => n + c.count, 0);
  const parts = [
    `${by("allowed", "denied")} allowed → denied`,
    `${by("audit", "denied")} audit → denied`,
    `${by("denied", "allowed")} denied → allowed`,
    `${by("denied", "audit")} denied → audit`,
    `${by("allowed", "audit")} allowed → audit`,
    `${by("audit", "allowed")} audit → allowed`,
  ];
  const skipped = w.skipped ? ` (${w.skipped} without cgroup paths skipped)` : "";
  return `${w.replayed} recorded decisions replayed${skipped}, ${w.changed} would change: ${parts.join(", ")}`;
}

export function formatWhatIf(w: WhatIfReport, showPath: (p: string | null) => string = (p) => p ?? "?"): string[] {
  const lines: string[] = [];
  for (const c of w.changes) {
    const rule = c.rule ? `${c.to === "allowed" ? "exempted by" : "by"} ${c.rule.kind} ${c.rule.path} (rule ${c.rule.id})` : "no lock of the candidate applies";
    lines.push(`${c.count} ${c.from} → ${c.to}, ${rule}:`);
    for (const r of c.examples)
      lines.push(`  #${r.seq} ${r.actor.comm}[${r.actor.tgid}] uid ${r.actor.euid} (${r.actor.exe.path ?? `dev ${r.actor.exe.dev} ino ${r.actor.exe.ino}`}) moving ${r.task.comm}[${r.task.pid}] ${showPath(r.src)} → ${showPath(r.dst)} via ${r.via}`);
    if (c.count > c.examples.length) lines.push(`  ... and ${c.count - c.examples.length} more`);
  }
  lines.push(summaryLine(w));
  return lines;
}
