// The policy model: the same decision cgw_decide() takes in bpf/decide.bpf.h,
// written once in TypeScript. `explain` uses it over the live policy and the
// differential tests hold the kernel to it migration by migration, so any
// change to the decision must land in both places at once.
import { Direction, MAX_LEVEL, type BindingValue, type DirectionName, type ModeName, type RuleKindName, type SelectorName, type VerdictName } from "../object/abi.ts";
import { selectorsMatch, type ActorIdentity, type Selectors } from "./selectors.ts";


export interface LockRule {
  id: number;
  /** The node of the path or template the lock is bound to. */
  node: bigint;
  directions: number;
  mode: ModeName;
}

export interface GateRule {
  id: number;
  kind: Exclude<RuleKindName, "lock">;
  /** Node of the rule's path or template. */
  anchor: bigint;
  /** Position in the gate; the kernel reports the lowest matching slot. */
  slot: number;
  selectors: Selectors;
}

export interface Policy {
  globalMode: ModeName;
  /** By node. */
  locks: Map<bigint, LockRule>;
  gates: GateRule[];
  /** What each cgroup id is bound to, as the `bound` map holds it for the epoch in force. */
  bound: Map<bigint, BindingValue>;
  /** The path or template of each node, for display. */
  nodePaths?: Map<bigint, string>;
}

/** The actor of a migration; see selectors.ts. */
export type Actor = ActorIdentity;

export interface Migration {
  actor: Actor;
  /** Ancestor chains, root first, ending with the cgroup itself. */
  src: bigint[];
  dst: bigint[];
}

export interface LockFinding {
  rule: LockRule;
  /** The cgroup whose binding carries the lock. */
  cgroup: bigint;
  level: number;
  direction: DirectionName;
  /** The allow or delegate rule that exempts the actor, if any. */
  exemptBy?: GateRule;
  /** The mode the lock was judged in (global audit overrides the lock's own). */
  effectiveMode: ModeName;
}

export interface Decision {
  verdict: VerdictName;
  /** Deciding lock for deny and audit; the first exemption used for allow; 0 when no lock applied. */
  ruleId: number;
  ruleCgroup: bigint;
  /** Every lock that applied, in the order the kernel judges them. */
  findings: LockFinding[];
  /** False when the task is already in dst: then nothing is judged. */
  migration: boolean;
}

export const emptyPolicy = (): Policy => ({ globalMode: "enforce", locks: new Map(), gates: [], bound: new Map() });

/** The nodes a cgroup carries: its own path's first, then its template's. */
export function nodesOf(policy: Policy, cgroup: bigint): bigint[] {
  const b = policy.bound.get(cgroup);
  return b ? [b.exact, b.matched].filter((n) => n !== 0n) : [];
}

/** Chains are only consulted down to MAX_LEVEL, exactly as in BPF. */
function capped(chain: bigint[]): bigint[] {
  return chain.slice(0, MAX_LEVEL + 1);
}

export function gateMatch(policy: Policy, anchor: bigint, kind: GateRule["kind"], actor: Actor): GateRule | undefined {
  return policy.gates
    .filter((g) => g.anchor === anchor && g.kind === kind && selectorsMatch(g.selectors, actor, (c) => nodesOf(policy, c)))
    .sort((x, y) => x.slot - y.slot)[0];
}

/** A cgroup's gate is the union of its nodes' gates, its own path's first, as gate_match_bound() in BPF. */
export function gateMatchAt(policy: Policy, cgroup: bigint, kind: GateRule["kind"], actor: Actor): GateRule | undefined {
  for (const node of nodesOf(policy, cgroup)) {
    const g = gateMatch(policy, node, kind, actor);
    if (g) return g;
  }
  return undefined;
}

export function decide(policy: Policy, m: Migration): Decision {
  const srcFull = m.src;
  const dstFull = m.dst;
  const result: Decision = { verdict: "allow", ruleId: 0, ruleCgroup: 0n, findings: [], migration: true };
  if (srcFull.at(-1) === dstFull.at(-1)) return { ...result, migration: false };

  const src = capped(srcFull);
  const dst = capped(dstFull);
  let lca = 0;
  for (let i = 1; i < src.length && i < dst.length && src[i] === dst[i]; i++) lca = i;

  let delegatedLevel = -1;
  let delegatedBy: GateRule | undefined;
  for (let level = lca; level >= 0; level--) {
    const g = gateMatchAt(policy, src[level]!, "delegate", m.actor);
    if (g) {
      delegatedLevel = level;
      delegatedBy = g;
      break;
    }
  }

  // Returns true once an enforcing lock denies: the kernel stops there too.
  const judge = (cgroup: bigint, level: number, direction: DirectionName): boolean =>
    nodesOf(policy, cgroup).some((node) => judgeLock(cgroup, node, level, direction));
  const judgeLock = (cgroup: bigint, node: bigint, level: number, direction: DirectionName): boolean => {
    const lock = policy.locks.get(node);
    if (!lock || !(lock.directions & Direction[direction])) return false;
    const exemptBy = level <= delegatedLevel ? delegatedBy : gateMatchAt(policy, cgroup, "allow", m.actor);
    const effectiveMode: ModeName = policy.globalMode === "audit" || lock.mode === "audit" ? "audit" : "enforce";
    result.findings.push({ rule: lock, cgroup, level, direction, exemptBy, effectiveMode });
    if (exemptBy) {
      if (result.verdict === "allow" && result.ruleId === 0) {
        result.ruleId = exemptBy.id;
        result.ruleCgroup = cgroup;
      }
      return false;
    }
    if (effectiveMode === "audit") {
      if (result.verdict !== "audit") {
        result.verdict = "audit";
        result.ruleId = lock.id;
        result.ruleCgroup = cgroup;
      }
      return false;
    }
    result.verdict = "deny";
    result.ruleId = lock.id;
    result.ruleCgroup = cgroup;
    return true;
  };

  const top = Math.max(src.length, dst.length) - 1;
  for (let level = 0; level <= top; level++) {
    if (level < src.length && judge(src[level]!, level, level <= lca ? "within" : "out")) break;
    if (level > lca && level < dst.length && judge(dst[level]!, level, "in")) break;
  }
  return result;
}

/**
 * A whole thread group moving through cgroup.procs. The kernel names only the
 * leader's cgroup, but threads of a threaded subtree may sit elsewhere: each
 * thread whose cgroup differs from the leader's (and from the thread before
 * it) is judged as a migration of its own, in thread-list order, exactly as
 * decide_migration() in BPF does. The first denial decides.
 */
export function decideThreadGroup(policy: Policy, m: Migration, threadSrcs: bigint[][]): Decision {
  const leader = decide(policy, m);
  if (leader.verdict === "deny") return leader;
  let last: bigint | undefined;
  for (const src of threadSrcs) {
    const id = src.at(-1);
    if (id === m.src.at(-1) || id === last) continue;
    last = id;
    const d = decide(policy, { ...m, src });
    if (d.verdict === "deny") return d;
  }
  return leader;
}


export type { SelectorName };
