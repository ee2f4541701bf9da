// The policy model, case by case against the semantics in the README.
import { describe, expect, test } from "bun:test";
import { decide, decideThreadGroup, emptyPolicy, type Actor, type GateRule, type Policy } from "../../cli/policy/model.ts";
import type { Selectors } from "../../cli/policy/selectors.ts";
import { ALL_DIRECTIONS, Direction, MAX_LEVEL } from "../../cli/object/abi.ts";

// A small tree of cgroup ids: / (1), /a (10), /a/b (11), /a/b/c (12), /a/d (13), /x (20), /x/y (21)
const T = {
  root: [1n],
  a: [1n, 10n],
  ab: [1n, 10n, 11n],
  abc: [1n, 10n, 11n, 12n],
  ad: [1n, 10n, 13n],
  x: [1n, 20n],
  xy: [1n, 20n, 21n],
};

const root: Actor = { tgid: 500, startTicks: 42n, euid: 0, exe: { dev: 1n, ino: 100n }, cgroupChain: T.x };
const user: Actor = { ...root, tgid: 600, euid: 1000, exe: { dev: 1n, ino: 200n }, cgroupChain: T.xy };

// Each cgroup of the tree bound to its own path, whose node is numbered as the cgroup id.
function boundTree(): Policy {
  const p = emptyPolicy();
  for (const chain of Object.values(T)) p.bound.set(chain.at(-1)!, { exact: chain.at(-1)!, matched: 0n, children: 0n, descend: 0n });
  return p;
}

class PolicyBuilder {
  p: Policy = boundTree();
  private nextId = 1;
  lock(chain: bigint[], dirs = ALL_DIRECTIONS, mode: "enforce" | "audit" = "enforce"): number {
    const id = this.nextId++;
    const cg = chain.at(-1)!;
    if (!this.p.bound.has(cg)) this.p.bound.set(cg, { exact: cg, matched: 0n, children: 0n, descend: 0n });
    this.p.locks.set(cg, { id, node: cg, directions: dirs, mode });
    return id;
  }
  gate(kind: GateRule["kind"], chain: bigint[], selectors: Selectors): number {
    const id = this.nextId++;
    const slot = this.p.gates.filter((g) => g.anchor === chain.at(-1) && g.kind === kind).length;
    this.p.gates.push({ id, kind, anchor: chain.at(-1)!, slot, selectors });
    return id;
  }
}

const move = (p: Policy, src: bigint[], dst: bigint[], actor = root) => decide(p, { actor, src, dst });

describe("no policy", () => {
  test("every migration is allowed", () => {
    expect(move(emptyPolicy(), T.ab, T.x).verdict).toBe("allow");
  });
  test("moving a task to its own cgroup is not a migration", () => {
    const b = new PolicyBuilder();
    b.lock(T.a);
    const d = move(b.p, T.ab, T.ab);
    expect(d.migration).toBe(false);
    expect(d.verdict).toBe("allow");
  });
});

describe("lock directions", () => {
  test("out: leaving the subtree is denied, entering and moving inside are not", () => {
    const b = new PolicyBuilder();
    const id = b.lock(T.a, Direction.out);
    expect(move(b.p, T.ab, T.x)).toMatchObject({ verdict: "deny", ruleId: id, ruleCgroup: 10n });
    expect(move(b.p, T.a, T.x).verdict).toBe("deny");
    expect(move(b.p, T.x, T.ab).verdict).toBe("allow");
    expect(move(b.p, T.ab, T.ad).verdict).toBe("allow");
  });
  test("in: entering is denied, including into the locked cgroup itself", () => {
    const b = new PolicyBuilder();
    b.lock(T.a, Direction.in);
    expect(move(b.p, T.x, T.abc).verdict).toBe("deny");
    expect(move(b.p, T.x, T.a).verdict).toBe("deny");
    expect(move(b.p, T.a, T.x).verdict).toBe("allow");
  });
  test("within: moves between cgroups inside are denied, in both directions of depth", () => {
    const b = new PolicyBuilder();
    b.lock(T.a, Direction.within);
    expect(move(b.p, T.ab, T.ad).verdict).toBe("deny");
    expect(move(b.p, T.ab, T.abc).verdict).toBe("deny");
    expect(move(b.p, T.abc, T.a).verdict).toBe("deny");
    expect(move(b.p, T.ab, T.x).verdict).toBe("allow");
  });
  test("no direction means all three", () => {
    const b = new PolicyBuilder();
    b.lock(T.a);
    for (const [s, d] of [[T.ab, T.x], [T.x, T.ab], [T.ab, T.ad]] as const) expect(move(b.p, s, d).verdict).toBe("deny");
  });
  test("a lock on one subtree does not touch moves elsewhere", () => {
    const b = new PolicyBuilder();
    b.lock(T.a);
    expect(move(b.p, T.x, T.xy).verdict).toBe("allow");
  });
  test("the root can be locked: every move is within it", () => {
    const b = new PolicyBuilder();
    b.lock(T.root, Direction.within);
    expect(move(b.p, T.x, T.ab).verdict).toBe("deny");
  });
});

describe("allow lists", () => {
  test("a matching actor passes the lock", () => {
    const b = new PolicyBuilder();
    b.lock(T.a);
    const allowId = b.gate("allow", T.a, { uid: 0 });
    expect(move(b.p, T.ab, T.x)).toMatchObject({ verdict: "allow", ruleId: allowId });
    expect(move(b.p, T.ab, T.x, user).verdict).toBe("deny");
  });
  test("an allow passes only the lock it belongs to", () => {
    const b = new PolicyBuilder();
    b.lock(T.a, Direction.out);
    const inner = b.lock(T.ab, Direction.out);
    b.gate("allow", T.a, { uid: 0 });
    expect(move(b.p, T.abc, T.x)).toMatchObject({ verdict: "deny", ruleId: inner });
  });
  test("selectors in one rule must all match", () => {
    const b = new PolicyBuilder();
    b.lock(T.a);
    b.gate("allow", T.a, { uid: 0, exe: { dev: 1n, ino: 999n } });
    expect(move(b.p, T.ab, T.x).verdict).toBe("deny");
  });
  test("separate rules are alternatives", () => {
    const b = new PolicyBuilder();
    b.lock(T.a);
    b.gate("allow", T.a, { uid: 4242 });
    const second = b.gate("allow", T.a, { exe: { dev: 1n, ino: 200n } });
    expect(move(b.p, T.ab, T.x, user)).toMatchObject({ verdict: "allow", ruleId: second });
  });
  test("each selector kind", () => {
    const cases: Array<[Selectors, boolean]> = [
      [{ pid: { tgid: 500, startTicks: 42n } }, true],
      [{ pid: { tgid: 500, startTicks: 43n } }, false], // a reused pid
      [{ exe: { dev: 1n, ino: 100n } }, true],
      [{ exe: { dev: 2n, ino: 100n } }, false],
      [{ uid: 0 }, true],
      [{ uid: 1 }, false],
      [{ cgroup: 20n }, true], // the actor's own cgroup
      [{ cgroup: 1n }, true], // an ancestor of it
      [{ cgroup: 21n }, false], // a descendant is not enough
    ];
    for (const [selectors, passes] of cases) {
      const b = new PolicyBuilder();
      b.lock(T.a);
      b.gate("allow", T.a, selectors);
      expect({ selectors, verdict: move(b.p, T.ab, T.x).verdict }).toEqual({ selectors, verdict: passes ? "allow" : "deny" });
    }
  });
});

describe("delegation", () => {
  test("moves inside the delegated subtree pass locks at it and above it", () => {
    const b = new PolicyBuilder();
    b.lock(T.root, Direction.within);
    b.lock(T.a);
    const del = b.gate("delegate", T.a, { uid: 1000 });
    expect(move(b.p, T.ab, T.ad, user)).toMatchObject({ verdict: "allow", ruleId: del });
    expect(move(b.p, T.ab, T.ad, root).verdict).toBe("deny");
  });
  test("moves crossing the boundary are not delegated", () => {
    const b = new PolicyBuilder();
    b.lock(T.a);
    b.gate("delegate", T.a, { uid: 1000 });
    expect(move(b.p, T.ab, T.x, user).verdict).toBe("deny");
    expect(move(b.p, T.x, T.ab, user).verdict).toBe("deny");
  });
  test("a lock strictly below the delegation still applies", () => {
    const b = new PolicyBuilder();
    b.lock(T.a);
    const fence = b.lock(T.ab, Direction.out);
    b.gate("delegate", T.a, { uid: 1000 });
    expect(move(b.p, T.abc, T.ad, user)).toMatchObject({ verdict: "deny", ruleId: fence });
    expect(move(b.p, T.ad, T.abc, user).verdict).toBe("allow");
  });
  test("a delegation deeper than a lock exempts from it when both ends are inside", () => {
    const b = new PolicyBuilder();
    b.lock(T.a, Direction.within);
    b.gate("delegate", T.ab, { uid: 1000 });
    expect(move(b.p, T.ab, T.abc, user).verdict).toBe("allow");
    expect(move(b.p, T.ab, T.ad, user).verdict).toBe("deny");
  });
});

describe("modes", () => {
  test("an audit lock lets the move through and names itself", () => {
    const b = new PolicyBuilder();
    const id = b.lock(T.a, ALL_DIRECTIONS, "audit");
    expect(move(b.p, T.ab, T.x)).toMatchObject({ verdict: "audit", ruleId: id });
  });
  test("global audit turns enforcing locks into audit", () => {
    const b = new PolicyBuilder();
    const id = b.lock(T.a);
    b.p.globalMode = "audit";
    expect(move(b.p, T.ab, T.x)).toMatchObject({ verdict: "audit", ruleId: id });
  });
  test("an enforcing lock wins over an earlier audit lock", () => {
    const b = new PolicyBuilder();
    b.lock(T.a, Direction.out, "audit");
    const enforcing = b.lock(T.ab, Direction.out);
    expect(move(b.p, T.abc, T.x)).toMatchObject({ verdict: "deny", ruleId: enforcing });
  });
  test("the shallowest enforcing lock decides, src chain before dst chain", () => {
    const b = new PolicyBuilder();
    const outer = b.lock(T.a, Direction.out);
    b.lock(T.ab, Direction.out);
    const into = b.lock(T.x, Direction.in);
    expect(move(b.p, T.abc, T.xy).ruleId).toBe(outer);
    const b2 = new PolicyBuilder();
    const out2 = b2.lock(T.a, Direction.out);
    b2.lock(T.x, Direction.in);
    expect(move(b2.p, T.ab, T.x).ruleId).toBe(out2);
    expect(into).toBeGreaterThan(0);
  });
});

describe("depth", () => {
  const deep = (prefix: bigint[], from: number, n: number) => [...prefix, ...Array.from({ length: n }, (_, i) => BigInt(from + i))];
  test("rules at the deepest supported level still apply to tasks far below it", () => {
    const chain = deep([1n], 1000, MAX_LEVEL + 10); // 43 levels
    const anchor = chain.slice(0, MAX_LEVEL + 1);
    const b = new PolicyBuilder();
    b.lock(anchor, Direction.out);
    expect(move(b.p, chain, T.x).verdict).toBe("deny");
    // Two cgroups that only differ below the supported depth are both inside the lock.
    const sibling = [...chain.slice(0, MAX_LEVEL + 5), 99999n];
    expect(move(b.p, chain, sibling).verdict).toBe("allow");
  });
});

describe("whole thread groups", () => {
  // A threaded subtree: leader in /a/b (11), one thread in /a/b/c (12), one in /a/d (13).
  test("a thread in a locked --out cgroup keeps the whole process in place", () => {
    const b = new PolicyBuilder();
    const id = b.lock(T.abc, Direction.out);
    const m = { actor: root, src: T.ab, dst: T.x };
    expect(decide(b.p, m).verdict).toBe("allow");
    expect(decideThreadGroup(b.p, m, [T.ab, T.abc])).toMatchObject({ verdict: "deny", ruleId: id, ruleCgroup: 12n });
  });
  test("threads in the leader's cgroup add nothing; the leader's own denial comes first", () => {
    const b = new PolicyBuilder();
    const outer = b.lock(T.a, Direction.out);
    b.lock(T.abc, Direction.out);
    const m = { actor: root, src: T.ab, dst: T.x };
    expect(decideThreadGroup(b.p, m, [T.ab, T.ab])).toMatchObject({ verdict: "deny", ruleId: outer });
    expect(decideThreadGroup(b.p, m, [T.abc])).toMatchObject({ verdict: "deny", ruleId: outer });
  });
  test("an exemption for the actor covers its threads' locks as well", () => {
    const b = new PolicyBuilder();
    b.lock(T.abc, Direction.out);
    const allow = b.gate("allow", T.abc, { uid: 0 });
    expect(decideThreadGroup(b.p, { actor: root, src: T.ab, dst: T.x }, [T.abc]).verdict).toBe("allow");
    expect(decideThreadGroup(b.p, { actor: user, src: T.ab, dst: T.x }, [T.abc]).verdict).toBe("deny");
    expect(allow).toBeGreaterThan(0);
  });
  test("a move that stays inside the threads' subtree is not out of it", () => {
    const b = new PolicyBuilder();
    b.lock(T.ab, Direction.out);
    expect(decideThreadGroup(b.p, { actor: root, src: T.ab, dst: T.abc }, [T.ab, T.abc]).verdict).toBe("allow");
  });
});
