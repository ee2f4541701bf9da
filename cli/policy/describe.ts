// Rules as admins read them, in text and JSON.
import { existsSync, statSync } from "node:fs";
import { Mode, ruleKindName, type RuleValue } from "../object/abi.ts";
import { directionNames } from "./model.ts";
import type { CgroupNames } from "../kernel/cgroupfs.ts";
import { processFacts } from "../kernel/procfs.ts";
import type { PolicyStore } from "./store.ts";
import { formatSelectors, selectorsOf } from "./selectors.ts";

export interface RuleView {
  id: number;
  kind: "lock" | "allow" | "delegate";
  cgroup: string;
  cgroupId: bigint;
  directions?: string[];
  mode?: "enforce" | "audit";
  selectors?: Record<string, unknown>;
  /** live, or incomplete when an interrupted change left it reserved but not in force. */
  state: "live" | "incomplete";
  warnings: string[];
}


export function viewRule(r: RuleValue, names: CgroupNames, store: PolicyStore): RuleView {
  const kind = ruleKindName(r.kind) ?? "lock";
  const cgroup = names.pathOf(r.cgroup_id) ?? `(deleted) ${r.cgroup_path}`;
  const warnings: string[] = [];
  const view: RuleView = { id: r.id, kind, cgroup, cgroupId: r.cgroup_id, state: "live", warnings };
  if (kind === "lock") {
    // The lock element is what the kernel enforces; the record only says what was asked for.
    const lock = store.lockAt(r.cgroup_id);
    const live = lock && lock.rule_id === r.id ? lock : null;
    view.directions = directionNames(live?.directions ?? r.directions);
    view.mode = (live?.mode ?? r.mode) === Mode.audit ? "audit" : "enforce";
    if (!live) {
      view.state = "incomplete";
      warnings.push(`not in force: an earlier change was interrupted; re-run it, or 'cgwarden remove ${r.id}'`);
    } else if (live.directions !== r.directions || live.mode !== r.mode) {
      view.state = "incomplete";
      const asked = `${directionNames(r.directions).join(",")} ${r.mode === Mode.audit ? "audit" : "enforce"}`;
      warnings.push(`an interrupted change asked for ${asked}; the kernel enforces what is shown. Re-run that lock command to finish it`);
    }
    return view;
  }
  const gate = store.gate(r.cgroup_id, kind);
  if (!gate || !(gate.live & (1n << BigInt(r.slot))) || gate.rule_id[r.slot] !== r.id) {
    view.state = "incomplete";
    warnings.push(`not in force: an earlier change was interrupted; re-run it, or 'cgwarden remove ${r.id}'`);
  }
  if (kind === "allow" && !store.lockAt(r.cgroup_id)) warnings.push(`no lock on ${cgroup} yet; this allow list applies once one exists`);
  const s = selectorsOf(r);
  const sel: Record<string, unknown> = {};
  if (s.exe) {
    sel.exe = { path: r.exe_path, dev: s.exe.dev, ino: s.exe.ino };
    const stale = exeStale(r.exe_path, s.exe.dev, s.exe.ino);
    if (stale) warnings.push(`stale: ${stale}; the rule no longer matches it. Fix: cgwarden ${kind} ${cgroup} --exe ${r.exe_path} ... && cgwarden remove ${r.id}`);
  }
  if (s.uid !== undefined) sel.uid = s.uid;
  if (s.cgroup !== undefined) sel.cgroup = { path: names.pathOf(s.cgroup) ?? `(deleted) ${r.sel_cgroup_path}`, id: s.cgroup };
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

export function formatRuleLine(v: RuleView): string {
  const what =
    v.kind === "lock"
      ? `${(v.directions ?? []).join(",")} ${v.mode}`
      : formatSelectors(v.selectors);
  return `${String(v.id).padStart(4)}  ${v.kind.padEnd(8)} ${v.cgroup}  ${what}${v.state === "incomplete" ? "  (incomplete)" : ""}`;
}
