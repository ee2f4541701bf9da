// The selector: what an allow or delegate rule says about the actor, in the
// kernel's terms. Its type, matching and display live here; BPF matches the
// same keys in gate_match() (bpf/decide.bpf.h), compile.ts writes them,
// and selector-args.ts reads selectors from the command line.
import { MAX_LEVEL, Selector, type RuleValue } from "../object/abi.ts";

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
  /** The node of a path or template; the actor matches when a cgroup of its chain carries it. */
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

/**
 * As gate_match() in BPF: the actor's cgroup chain is only consulted down to
 * MAX_LEVEL, each cgroup through the nodes it is bound to.
 */
export function selectorsMatch(s: Selectors, a: ActorIdentity, nodesOf: (cgroup: bigint) => bigint[]): boolean {
  if (s.pid && (s.pid.tgid !== a.tgid || s.pid.startTicks !== a.startTicks)) return false;
  if (s.exe && (s.exe.dev !== a.exe.dev || s.exe.ino !== a.exe.ino)) return false;
  if (s.uid !== undefined && s.uid !== a.euid) return false;
  if (s.cgroup !== undefined && !a.cgroupChain.slice(0, MAX_LEVEL + 1).some((c) => nodesOf(c).includes(s.cgroup!))) return false;
  return true;
}

/** The selectors a rule record holds. */
export function selectorsOf(r: RuleValue): Selectors {
  const has = (k: SelectorKind) => (r.selectors & (1 << Selector[k])) !== 0;
  const s: Selectors = {};
  if (has("pid")) s.pid = { tgid: r.pid, startTicks: r.pid_start };
  if (has("exe")) s.exe = { dev: r.exe_dev, ino: r.exe_ino };
  if (has("uid")) s.uid = r.uid;
  if (has("cgroup")) s.cgroup = r.sel_node;
  return s;
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
