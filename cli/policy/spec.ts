// The policy as the admin states it: rules bound to paths, plus the global
// settings. Every change, from `lock` to `apply`, computes the whole desired
// spec and hands it to the store, which makes the kernel's policy match it
// in one atomic step. Rules are told apart by identity (what they are
// about) and compared by attributes (what they say), so an unchanged rule
// keeps its id and a re-applied file changes nothing.
import { MANAGERS, type ModeName } from "../object/abi.ts";
import type { ManagerSpec } from "./lookup.ts";
import { selectorAttributes, selectorIdentity, type SelectorSpec } from "./selectors.ts";
import type { SealKey } from "../kernel/keyring.ts";

export type { ExeSpec, ManagerSpec, PidSpec } from "./lookup.ts";
export type { SelectorSpec } from "./selectors.ts";

/**
 * The policy file line that states a rule: bookkeeping for `export
 * --sources`, never part of what the rule is (identity() leaves it out).
 * Absent for a command's rule, and for a file read from standard input.
 */
export interface RuleSource {
  file: string;
  line: number;
}

export interface LockSpec {
  kind: "lock";
  source?: RuleSource;
  path: string;
  directions: number;
  mode: ModeName;
}

export interface GateSpec {
  kind: "allow" | "delegate";
  source?: RuleSource;
  path: string;
  selectors: SelectorSpec;
}

export type RuleSpec = LockSpec | GateSpec;

export interface PolicySpec {
  globalMode: ModeName;
  recordAll: boolean;
  rules: RuleSpec[];
  /** Absent: the spec says nothing about the seal (the one-off commands); null: unsealed. */
  seal?: SealSpec | null;
}

export interface SealSpec {
  managers: ManagerSpec[];
  /** No managers at all: nothing changes until the next boot. */
  untilReboot: boolean;
  /** Refuse new fentry, fexit, fmod_ret, LSM, freplace and kprobe-override programs to all but managers. */
  lockBpf: boolean;
  /** A key seal: no managers; a process is one once the kernel verified its authorization against this certificate. */
  key?: SealKeySpec;
}

/** The certificate (cli/kernel/keyring.ts), and where the policy named it, for status and export. */
export interface SealKeySpec extends SealKey {
  path: string;
}

/** What is wrong with a seal as stated, or null: checked before anything is read or loaded. */
export function sealProblem(s: { managers: readonly unknown[]; untilReboot: boolean; key?: unknown }): string | null {
  if (s.key && (s.untilReboot || s.managers.length)) return "a key seal has no managers and lifts with an authorization; give --key alone, not with managers or --until-reboot";
  if (s.key) return null;
  if (s.untilReboot && s.managers.length) return "a seal until reboot has no managers; give --until-reboot or managers, not both";
  if (!s.untilReboot && !s.managers.length) return "a seal needs its managers (--manager-exe PATH or --manager-pid PID), a key (--key CERT), or --until-reboot for none";
  if (s.managers.length > MANAGERS) return `a seal has at most ${MANAGERS} managers, not ${s.managers.length}`;
  return null;
}

/** Two seals say the same when they name the same processes by the same files, and the same flags. */
export function sameSeal(a: SealSpec | null, b: SealSpec | null): boolean {
  const key = (s: SealSpec | null) =>
    s === null
      ? "unsealed"
      : [s.untilReboot, s.lockBpf, `key:${s.key?.sha256 ?? ""}`, ...s.managers.map((m) => `${m.exe.dev}:${m.exe.ino}:${m.pid ? 0 : (m.exe.gen ?? 0)}:${m.pid?.tgid ?? 0}:${m.pid?.startTicks ?? 0}`).sort()].join(" ");
  return key(a) === key(b);
}

export interface IdentifiedRule {
  id: number;
  spec: RuleSpec;
}

/** A policy's rules numbered 1..n in file order, as they would be if applied to an empty policy. */
export const numbered = (rules: RuleSpec[]): IdentifiedRule[] => rules.map((spec, i) => ({ id: i + 1, spec }));

export const emptySpec = (): PolicySpec => ({ globalMode: "enforce", recordAll: false, rules: [] });

/** What a rule is about: a path has one lock, and a gate rule is its selectors as written. */
export function identity(r: RuleSpec): string {
  if (r.kind === "lock") return `lock ${r.path}`;
  return `${r.kind} ${r.path} ${selectorIdentity(r.selectors)}`;
}

/** What a rule says beyond its identity: a changed lock, or a selector that now resolves elsewhere (an upgraded binary). */
function attributes(r: RuleSpec): string {
  if (r.kind === "lock") return `${r.directions}/${r.mode}`;
  return selectorAttributes(r.selectors);
}

export interface SpecDiff {
  added: RuleSpec[];
  removed: IdentifiedRule[];
  /** The rule keeps its id; `spec` is the new one. */
  updated: IdentifiedRule[];
  unchanged: IdentifiedRule[];
  settingsChanged: boolean;
}

export function diffSpecs(current: { settings: Omit<PolicySpec, "rules">; rules: IdentifiedRule[] }, desired: PolicySpec): SpecDiff {
  const byIdentity = new Map(current.rules.map((r) => [identity(r.spec), r]));
  const diff: SpecDiff = { added: [], removed: [], updated: [], unchanged: [], settingsChanged: false };
  const seen = new Set<string>();
  for (const spec of desired.rules) {
    const key = identity(spec);
    if (seen.has(key)) continue;
    seen.add(key);
    const old = byIdentity.get(key);
    if (!old) diff.added.push(spec);
    else if (attributes(old.spec) === attributes(spec)) diff.unchanged.push(old);
    else diff.updated.push({ id: old.id, spec });
  }
  for (const r of current.rules) if (!seen.has(identity(r.spec))) diff.removed.push(r);
  diff.settingsChanged = current.settings.globalMode !== desired.globalMode || current.settings.recordAll !== desired.recordAll;
  return diff;
}

export function diffIsEmpty(d: SpecDiff): boolean {
  return !d.settingsChanged && d.added.length === 0 && d.removed.length === 0 && d.updated.length === 0;
}

