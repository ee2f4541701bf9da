// Why the live policy would decide a migration the way it does, in words.
import { ancestorChain, cgroupOfPid, resolveCgroup, threadCgroups, type CgroupNames } from "../kernel/cgroupfs.ts";
import { processFacts } from "../kernel/procfs.ts";
import { CliError } from "../errors.ts";
import { decideThreadGroup, type Actor, type Decision, type GateRule, type Policy } from "./model.ts";
import type { ExeKey } from "./selectors.ts";
import { viaName, type RecordValue, type ViaName } from "../object/abi.ts";

export interface ExplainInput {
  actor: Actor;
  actorLabel: string;
  exePath: string | null;
  src: bigint[];
  dst: bigint[];
  via: ViaName;
  /** For a whole process (via procs): the cgroup chains of its threads, which the kernel judges too. */
  threadSrcs?: bigint[][];
}

export interface Explanation {
  verdict: Decision["verdict"];
  migration: boolean;
  ruleId: number;
  src: string;
  dst: string;
  via: ViaName;
  actor: string;
  locks: Array<{ ruleId: number; path: string; cgroup: string; direction: string; mode: string; exemptBy: { ruleId: number; kind: string; path: string } | null }>;
  /** A command that would allow the migration, when it is denied or audited. */
  suggestion: string | null;
}

/**
 * The actor as the kernel judges it. `executed` is what the kernel recorded
 * the process really ran (see executedBy in pins/state.ts); /proc/PID/exe
 * stands in only where nothing was recorded, exactly as in BPF.
 */
export function actorFromPid(pid: number, executedBy: (pid: number) => ExeKey | null): { actor: Actor; label: string; exePath: string | null } {
  const f = processFacts(pid);
  const cg = cgroupOfPid(pid);
  const executed = executedBy(f.tgid);
  const proc = { dev: f.exe?.dev ?? 0n, ino: f.exe?.ino ?? 0n };
  // As observe_actor() in BPF: a traced process vouches for no executable.
  const exe = f.traced ? { dev: 0n, ino: 0n } : (executed ?? proc);
  const forged = !f.traced && (exe.dev !== proc.dev || exe.ino !== proc.ino);
  return {
    actor: { tgid: f.tgid, startTicks: f.startTicks, euid: f.euid, exe, cgroupChain: ancestorChain(cg) },
    label: `${f.comm}[${f.tgid}] uid ${f.euid}${f.traced ? " (under ptrace: matches no --exe rule)" : ""}`,
    exePath: forged ? `(executed: dev ${exe.dev} inode ${exe.ino}; /proc/${f.tgid}/exe now points at ${f.exe?.path ?? "nothing"})` : (f.exe?.path ?? null),
  };
}

/** Re-evaluates a recorded decision's migration against the live policy. */
export function inputFromRecord(r: RecordValue, names: CgroupNames, exePath: string | null): ExplainInput {
  const chain = (id: bigint, what: string) => {
    const path = names.pathOf(id);
    if (path === null) throw new CliError({ problem: `the record's ${what} cgroup (id ${id}) no longer exists`, fix: `its migration cannot be re-evaluated` });
    return ancestorChain(resolveCgroup(path));
  };
  const via = viaName(r.via) ?? "procs";
  return {
    actor: { tgid: r.actor_tgid, startTicks: r.actor_start_ticks, euid: r.actor_euid, exe: { dev: r.actor_exe_dev, ino: r.actor_exe_ino }, cgroupChain: chain(r.actor_cgroup, "actor's") },
    actorLabel: `${r.actor_comm}[${r.actor_tgid}] uid ${r.actor_euid}`,
    exePath,
    src: chain(r.src_cgroup, "source"),
    dst: chain(r.dst_cgroup, "destination"),
    via,
  };
}

/** A migration to explain: a recorded one, or one described by its parts. */
export type ExplainRequest =
  | { record: RecordValue; exePath: string | null }
  | { task: number; to: string; actor: number; via: ViaName };

/** What explaining needs from the live state, handed in by the caller (pins/ sits above policy/). */
export interface ExplainSources {
  policy: Policy;
  /** What the kernel recorded a process executed; null where it recorded nothing. */
  executedBy(pid: number): ExeKey | null;
}

/** Builds the migration the kernel would judge, and explains the live policy's verdict on it. */
export function explainRequest(req: ExplainRequest, sources: ExplainSources, names: CgroupNames): Explanation {
  if ("record" in req) return explain(sources.policy, inputFromRecord(req.record, names, req.exePath), names);
  const a = actorFromPid(req.actor, sources.executedBy);
  const dst = ancestorChain(resolveCgroup(req.to, "--to"));
  if (req.via === "clone") return explain(sources.policy, { actor: a.actor, actorLabel: a.label, exePath: a.exePath, src: a.actor.cgroupChain, dst, via: req.via }, names);
  const src = ancestorChain(cgroupOfPid(req.task));
  // A whole process moves with all its threads, and the kernel judges each one's cgroup.
  const threadSrcs = req.via === "procs" ? threadCgroups(req.task).map(ancestorChain) : [];
  return explain(sources.policy, { actor: a.actor, actorLabel: a.label, exePath: a.exePath, src, dst, via: req.via, threadSrcs }, names);
}

export function explain(policy: Policy, input: ExplainInput, names: CgroupNames): Explanation {
  const d = decideThreadGroup(policy, { actor: input.actor, src: input.src, dst: input.dst }, input.threadSrcs ?? []);
  const path = (id: bigint) => names.pathOf(id) ?? `(deleted, id ${id})`;
  const nodePath = (node: bigint) => policy.nodePaths?.get(node) ?? `(node ${node})`;
  const gateLabel = (g: GateRule) => ({ ruleId: g.id, kind: g.kind, path: nodePath(g.anchor) });
  const blocking = d.findings.find((f) => !f.exemptBy && f.rule.id === d.ruleId);
  return {
    verdict: d.verdict,
    migration: d.migration,
    ruleId: d.ruleId,
    src: path(input.src.at(-1)!),
    dst: path(input.dst.at(-1)!),
    via: input.via,
    actor: input.actorLabel,
    locks: d.findings.map((f) => ({
      ruleId: f.rule.id,
      path: nodePath(f.rule.node),
      cgroup: path(f.cgroup),
      direction: f.direction,
      mode: f.effectiveMode,
      exemptBy: f.exemptBy ? gateLabel(f.exemptBy) : null,
    })),
    suggestion: blocking ? suggest(nodePath(blocking.rule.node), input) : null,
  };
}

function suggest(lockPath: string, input: ExplainInput): string {
  const who = input.exePath ? `--exe ${input.exePath}` : `--pid ${input.actor.tgid}`;
  const quoted = lockPath.includes("*") ? `'${lockPath}'` : lockPath;
  return `cgwarden allow ${quoted} ${who} --uid ${input.actor.euid}`;
}

export function formatExplanation(e: Explanation): string[] {
  const lines = [`migration: ${e.via} ${e.src} → ${e.dst} by ${e.actor}`];
  if (!e.migration) return [...lines, "verdict: allow (the task is already there: not a migration)"];
  if (!e.locks.length) lines.push("no lock applies to this migration");
  for (const l of e.locks) {
    const exempt = l.exemptBy ? `exempt by ${l.exemptBy.kind} rule ${l.exemptBy.ruleId} on ${l.exemptBy.path}` : "no allow or delegation exempts this actor";
    const where = l.path === l.cgroup ? l.cgroup : `${l.path} (binding ${l.cgroup})`;
    lines.push(`lock rule ${l.ruleId} on ${where} applies (direction ${l.direction}, ${l.mode}): ${exempt}`);
  }
  const word = { allow: "allow", deny: `deny (EPERM), by rule ${e.ruleId}`, audit: `allow, recorded as audit by rule ${e.ruleId} (enforce mode would deny)` }[e.verdict];
  lines.push(`verdict: ${word}`);
  if (e.suggestion) lines.push(`to allow it: ${e.suggestion}`);
  return lines;
}

