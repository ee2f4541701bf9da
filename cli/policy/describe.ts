// Rules as admins read them, in text and JSON.
import { existsSync, statSync } from "node:fs";
import { directionNames, modeName, ruleKindName, type RuleValue } from "../object/abi.ts";
import { processFacts } from "../kernel/procfs.ts";
import { shown } from "../errors.ts";
import { formatSelectors, specSelectorsOf, writtenSelectors } from "./selectors.ts";
import type { RuleSpec } from "./spec.ts";

export interface RuleView {
  id: number;
  kind: "lock" | "allow" | "delegate";
  /** The path or template the rule is bound to. */
  path: string;
  template: boolean;
  /** bound: a cgroup exists at the path (for a template: at least one matches); waiting: none yet. */
  state: "bound" | "waiting";
  /** Ids of the cgroups bound now. */
  cgroups: bigint[];
  /** Cgroups bound to the path since the rule was made. */
  binds: number;
  directions?: string[];
  mode?: "enforce" | "audit";
  selectors?: Record<string, unknown>;
  /** What the rule says, as the command line says it: "out enforce" for a lock, "--exe /usr/bin/crun --uid 0" for a gate rule. */
  details: string;
  /** The policy file and line the rule was applied from; null when a command made it. */
  source: { file: string; line: number } | null;
  warnings: string[];
}

/** How a rule's path is bound on the live tree (pins/store.ts reads it from the maps). */
export interface BindState {
  state: "bound" | "waiting";
  /** Bound cgroups: one for a path, any number for a template. */
  cgroups: bigint[];
  /** Cgroups bound to the path since the rule was made. */
  binds: number;
  /** A --cgroup selector's path, bound or waiting the same way (a misspelt path waits for ever). */
  selector?: { state: "bound" | "waiting"; cgroups: bigint[] };
}

export function viewRule(r: RuleValue, bind: BindState): RuleView {
  const kind = ruleKindName(r.kind) ?? "lock";
  const warnings: string[] = [];
  const view: RuleView = {
    id: r.id,
    kind,
    path: r.cgroup_path,
    template: r.cgroup_path.slice(r.cgroup_path.lastIndexOf("/") + 1).includes("*"),
    state: bind.state,
    cgroups: bind.cgroups,
    binds: bind.binds,
    details: "",
    source: r.source ? { file: r.source, line: r.source_line } : null,
    warnings,
  };
  if (kind === "lock") {
    view.directions = directionNames(r.directions);
    view.mode = modeName(r.mode);
    view.details = `${view.directions.join(",")} ${view.mode}`;
    return view;
  }
  const s = specSelectorsOf(r);
  view.details = formatSelectors(s);
  // Each selector as its written value, with what --json readers need beside it, and what is wrong with it now.
  const sel: Record<string, unknown> = Object.fromEntries(writtenSelectors(s));
  if (s.exe) {
    sel.exe = { path: s.exe.path, dev: s.exe.dev, ino: s.exe.ino };
    const stale = exeStale(s.exe.path, s.exe.dev, s.exe.ino);
    if (stale) warnings.push(`stale: ${stale}; the rule no longer matches it. Fix: re-run the ${kind} command (or re-apply the policy file), which binds the new file`);
  }
  if (s.cgroup !== undefined) {
    sel.cgroup = { path: s.cgroup, ...bind.selector };
    if (bind.selector?.state === "waiting")
      warnings.push(`waiting: no cgroup exists at ${shown(s.cgroup)}, the --cgroup selector's path, so the rule matches no actor yet. Fix: check the path (a misspelt one is never bound), or create the cgroup`);
  }
  if (s.pid) {
    sel.pid = { pid: s.pid.tgid, startTicks: s.pid.startTicks };
    if (!pidAlive(s.pid.tgid, s.pid.startTicks)) warnings.push(`stale: process ${s.pid.tgid} has exited; 'cgwarden remove ${r.id}'`);
  }
  view.selectors = sel;
  return view;
}

function exeStale(path: string, dev: bigint, ino: bigint): string | null {
  if (!existsSync(path)) return `${path} no longer exists`;
  const st = statSync(path, { bigint: true });
  if (st.dev !== dev || st.ino !== ino) return `${path} was replaced (now inode ${st.ino}, the rule has ${ino}), e.g. by a package update`;
  return null;
}

function pidAlive(pid: number, start: bigint): boolean {
  try {
    return processFacts(pid).startTicks === start;
  } catch {
    return false;
  }
}

/** "bound (cgroup 1234), bound 3 times" / "waiting". */
export function formatBinding(v: RuleView): string {
  const times = `${v.binds} bind${v.binds === 1 ? "" : "s"} since made`;
  if (v.state === "waiting") return `waiting, ${times}`;
  const now = v.template ? `${v.cgroups.length} cgroup${v.cgroups.length === 1 ? "" : "s"}` : `cgroup ${v.cgroups[0]}`;
  return `bound (${now}), ${times}`;
}

export function formatRuleLine(v: RuleView): string {
  return `${String(v.id).padStart(4)}  ${v.kind.padEnd(8)} ${v.path}  ${v.details}  [${formatBinding(v)}]`;
}

/** A rule as one line of a diff: `lock /a/*.service out enforce`, `allow /a exe=/usr/bin/x uid=0`. */
export function describeSpec(r: RuleSpec): string {
  if (r.kind === "lock") return `lock ${r.path} ${directionNames(r.directions).join(",")} ${r.mode}`;
  return `${r.kind} ${r.path} ${writtenSelectors(r.selectors)
    .map(([n, v]) => `${n}=${v}`)
    .join(" ")}`;
}
