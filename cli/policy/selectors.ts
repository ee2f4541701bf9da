// The selector: what an allow or delegate rule says about the actor. Its
// type, map keys, equality, matching and display live here; BPF matches the
// same keys in gate_match() (bpf/cgwarden.bpf.c), and selector-args.ts reads
// selectors from the command line.
import { MAX_LEVEL, RuleKind, Selector, type RuleValue } from "../object/abi.ts";

export interface PidKey {
  tgid: number;
  startTicks: bigint;
}

export interface ExeKey {
  dev: bigint;
  ino: bigint;
}

/** A conjunction: every selector present must match. */
export interface Selectors {
  pid?: PidKey;
  exe?: ExeKey;
  uid?: number;
  cgroup?: bigint;
}

/** What the kernel knows of an actor, as selectors see it. */
export interface ActorIdentity {
  tgid: number;
  startTicks: bigint;
  euid: number;
  /** What the process really executed (recorded at exec). */
  exe: ExeKey;
  /** Cgroup ids from the root (level 0) down to the actor's own cgroup. */
  cgroupChain: bigint[];
}

export type SelectorKind = keyof typeof Selector;

export function selectorKinds(s: Selectors): SelectorKind[] {
  return (["pid", "exe", "uid", "cgroup"] as const).filter((k) => s[k] !== undefined);
}

export function sameSelectors(a: Selectors, b: Selectors): boolean {
  return (
    a.uid === b.uid &&
    a.cgroup === b.cgroup &&
    a.exe?.dev === b.exe?.dev &&
    a.exe?.ino === b.exe?.ino &&
    a.pid?.tgid === b.pid?.tgid &&
    a.pid?.startTicks === b.pid?.startTicks
  );
}

/** As gate_match() in BPF: the actor's cgroup chain is only consulted down to MAX_LEVEL. */
export function selectorsMatch(s: Selectors, a: ActorIdentity): boolean {
  if (s.pid && (s.pid.tgid !== a.tgid || s.pid.startTicks !== a.startTicks)) return false;
  if (s.exe && (s.exe.dev !== a.exe.dev || s.exe.ino !== a.exe.ino)) return false;
  if (s.uid !== undefined && s.uid !== a.euid) return false;
  if (s.cgroup !== undefined && !a.cgroupChain.slice(0, MAX_LEVEL + 1).includes(s.cgroup)) return false;
  return true;
}

/** The selectors a rule record holds. */
export function selectorsOf(r: RuleValue): Selectors {
  const has = (k: SelectorKind) => (r.selectors & (1 << Selector[k])) !== 0;
  const s: Selectors = {};
  if (has("pid")) s.pid = { tgid: r.pid, startTicks: r.pid_start };
  if (has("exe")) s.exe = { dev: r.exe_dev, ino: r.exe_ino };
  if (has("uid")) s.uid = r.uid;
  if (has("cgroup")) s.cgroup = r.sel_cgroup_id;
  return s;
}

/** The selector-map keys (struct cgw_selector_key) a rule sets its slot bit under. */
export function selectorKeys(kind: "allow" | "delegate", anchor: bigint, s: Selectors) {
  const base = { anchor, kind: RuleKind[kind] };
  const keys = [];
  if (s.pid) keys.push({ ...base, selector: Selector.pid, value: BigInt(s.pid.tgid), value2: s.pid.startTicks });
  if (s.exe) keys.push({ ...base, selector: Selector.exe, value: s.exe.dev, value2: s.exe.ino });
  if (s.uid !== undefined) keys.push({ ...base, selector: Selector.uid, value: BigInt(s.uid), value2: 0n });
  if (s.cgroup !== undefined) keys.push({ ...base, selector: Selector.cgroup, value: s.cgroup, value2: 0n });
  return keys;
}

/** A rule's selectors as the options that would give them again. */
export function formatSelectors(sel: Record<string, unknown> | undefined): string {
  if (!sel) return "";
  const parts: string[] = [];
  const exe = sel.exe as { path: string } | undefined;
  if (exe) parts.push(`--exe ${exe.path}`);
  if (sel.uid !== undefined) parts.push(`--uid ${sel.uid}`);
  const cg = sel.cgroup as { path: string } | undefined;
  if (cg) parts.push(`--cgroup ${cg.path}`);
  const pid = sel.pid as { pid: number } | undefined;
  if (pid) parts.push(`--pid ${pid.pid}`);
  return parts.join(" ");
}
