// Path binding and templates in the pure model: path syntax, what compile()
// writes, what bindingFor() binds (the twin of cgwarden_mkdir()), the
// decisions that follow, and the diff that makes re-applying a no-op.
import { describe, expect, test } from "bun:test";
import { problemText } from "../../cli/errors.ts";
import { ALL_DIRECTIONS, Direction } from "../../cli/object/abi.ts";
import { bindingFor, boundLevels, compile, type Compiled } from "../../cli/policy/compile.ts";
import { decide, emptyPolicy, type Actor, type LockRule, type Policy } from "../../cli/policy/model.ts";
import { nodeOf, parseRulePath, patternsOverlap, rulePathProblem, templateMatches } from "../../cli/policy/paths.ts";
import { diffIsEmpty, diffSpecs, type GateSpec, type IdentifiedRule, type PolicySpec, type RuleSpec } from "../../cli/policy/spec.ts";

const lock = (path: string, directions = ALL_DIRECTIONS): RuleSpec => ({ kind: "lock", path, directions, mode: "enforce" });
const ids = (rules: RuleSpec[]): IdentifiedRule[] => rules.map((spec, i) => ({ id: i + 1, spec }));

describe("rule paths", () => {
  test.each([
    ["/", null],
    ["/system.slice", null],
    ["/system.slice/*.service", null],
    ["/system.slice/*", null],
    ["/*", null],
    ["system.slice", "is not absolute"],
    ["/a//b", "empty component"],
    ["/a/", "ends with '/'"],
    ["/a/../b", "'.' or '..'"],
    ["/a/*/b", "before its last component"],
    ["/a/*x*", "2 '*'"],
    ["/a/b\nc", "control character"],
    ["/a\u0085b", "control character"],
    ["/sys/fs/cgroup/rt3c/a", "names the cgroup2 mount point; write the path as seen from the mount, like /rt3c/a"],
    ["/sys/fs/cgroup", "like /"],
    ["/sys/fs/cgroupx", null],
    [`/${"x".repeat(300)}`, "bytes long"],
    [`/a/${"p".repeat(64)}*`, "prefix of 64 bytes"],
    [`/${Array(33).fill("d").join("/")}`, "33 levels deep"],
  ])("%s", (path, problem) => {
    const got = rulePathProblem(path);
    if (problem === null) expect(got).toBeNull();
    else expect(got && problemText(got)).toContain(problem);
  });

  test("templates split into directory, prefix and suffix", () => {
    expect(parseRulePath("/system.slice/*.service").template).toEqual({ dir: "/system.slice", prefix: "", suffix: ".service", recursive: false });
    expect(parseRulePath("/*").template).toEqual({ dir: "/", prefix: "", suffix: "", recursive: false });
    expect(parseRulePath("/a/b").template).toBeUndefined();
  });

  test("matching is on bytes, prefix and suffix may not overlap in the name", () => {
    const t = parseRulePath("/s/ab*ba").template!;
    expect(templateMatches(t, "abba")).toBe(true);
    expect(templateMatches(t, "aba")).toBe(false);
    expect(templateMatches(t, "ab-x-ba")).toBe(true);
    expect(templateMatches(parseRulePath("/s/é*").template!, "éte")).toBe(true);
    expect(templateMatches(parseRulePath("/s/*é").template!, "e\u0301")).toBe(false); // same glyph, other bytes
  });

  test("overlap: two templates of one directory that one name can match", () => {
    const t = (p: string) => parseRulePath(p).template!;
    expect(patternsOverlap(t("/s/*.service"), t("/s/foo*"))).toBe(true); // foo.service
    expect(patternsOverlap(t("/s/*.service"), t("/s/*.scope"))).toBe(false);
    expect(patternsOverlap(t("/s/a*"), t("/s/b*"))).toBe(false);
    // The same pattern in two directories never meets at one cgroup: compile groups templates by directory.
    expect(() => compile(ids([lock("/s/*.service"), lock("/t/*.service")]), 0)).not.toThrow();
  });

  test("node ids carry the epoch in the top bit and are never 0", () => {
    expect(nodeOf("/a", 0) & (1n << 63n)).toBe(0n);
    expect(nodeOf("/a", 1) & (1n << 63n)).toBe(1n << 63n);
    expect(nodeOf("/a", 1) ^ nodeOf("/a", 0)).toBe(1n << 63n);
    expect(nodeOf("/a", 0)).not.toBe(nodeOf("/b", 0));
  });
});

describe("compile and bind", () => {
  const rules = ids([
    lock("/system.slice/*.service", Direction.out),
    lock("/system.slice/web.service", Direction.in),
    { kind: "allow", path: "/system.slice/*.service", selectors: { uid: 0, cgroup: "/admin" } },
  ]);
  const c = compile(rules, 1);

  test("exact paths and template directories are what mkdir looks up", () => {
    expect([...c.paths.keys()].sort()).toEqual(["/admin", "/system.slice", "/system.slice/web.service"]);
    expect(c.paths.get("/system.slice")).toEqual({ node: 0n, children: nodeOf("/system.slice", 1), descend: 0n });
    expect(c.templateSets.get(nodeOf("/system.slice", 1))!.map((t) => t.value)).toEqual([
      { node: nodeOf("/system.slice/*.service", 1), prefix_len: 0, suffix_len: 8, prefix: "", suffix: ".service" },
    ]);
  });

  test("a cgroup carries its own path's node and its template's", () => {
    expect(bindingFor(c, "/system.slice/web.service")).toEqual({ exact: nodeOf("/system.slice/web.service", 1), matched: nodeOf("/system.slice/*.service", 1), children: 0n, descend: 0n });
    expect(bindingFor(c, "/system.slice/db.service")).toEqual({ exact: 0n, matched: nodeOf("/system.slice/*.service", 1), children: 0n, descend: 0n });
    expect(bindingFor(c, "/system.slice/db.scope")).toBeNull();
    expect(bindingFor(c, "/system.slice")).toEqual({ exact: 0n, matched: 0n, children: nodeOf("/system.slice", 1), descend: 0n });
  });

  test("the scan covers named paths and every child of a template directory that carries a binding", () => {
    const children = (dir: string) => (dir === "/system.slice" ? ["a.service", "b.scope"] : []);
    expect(scan(c, children)).toEqual(["/admin", "/system.slice", "/system.slice/a.service", "/system.slice/web.service"]);
  });

  test("slots, selector keys and the cgroup selector's node", () => {
    const gate = [...c.gates.values()][0]!;
    expect(gate.anchor).toBe(nodeOf("/system.slice/*.service", 1));
    expect(gate.gate.rule_id[0]).toBe(3);
    expect(c.selectors.map((s) => s.value).sort()).toEqual([0n, nodeOf("/admin", 1)].sort());
  });

  test("overlapping templates and full gates are refused before anything is written", () => {
    expect(() => compile(ids([lock("/s/*.service"), lock("/s/foo*")]), 0)).toThrow("can both match one cgroup");
    const many = Array.from({ length: 65 }, (_, i): RuleSpec => ({ kind: "allow", path: "/s", selectors: { uid: i } }));
    expect(() => compile(ids(many), 0)).toThrow("exceed 64");
  });
});

/** Every path boundLevels() yields, sorted. */
function scan(c: Compiled, children: (dir: string) => string[]): string[] {
  return [...boundLevels(c, children)].flat().map((e) => e.path).sort();
}

/** A cgroup tree given as its paths. */
function treeOf(paths: string[]): (dir: string) => string[] {
  return (dir) => paths.filter((p) => p !== "/" && (p.slice(0, p.lastIndexOf("/")) || "/") === dir).map((p) => p.slice(p.lastIndexOf("/") + 1));
}

describe("recursive templates (**)", () => {
  test.each([
    ["/system.slice/**/*.service", null],
    ["/**/*", null],
    ["/user.slice/**/session-*.scope", null],
    ["/a/**", "ends with '**'"],
    ["/a/**/b", "no '*' in its last component"],
    ["/a/x**/*.s", "inside a component"],
    ["/a/**/b/**/*.s", "2 '**'"],
    ["/a/**/b/*.s", "between '**' and its last"],
    ["/a/*/**/*.s", "before its last component"],
  ])("%s", (path, problem) => {
    const got = rulePathProblem(path);
    if (problem === null) expect(got).toBeNull();
    else expect(got && problemText(got)).toContain(problem);
  });

  test("a recursive template's directory is its anchor", () => {
    expect(parseRulePath("/system.slice/**/*.service").template).toEqual({ dir: "/system.slice", prefix: "", suffix: ".service", recursive: true });
    expect(parseRulePath("/**/x*").template).toEqual({ dir: "/", prefix: "x", suffix: "", recursive: true });
  });

  const svc = nodeOf("/system.slice/**/*.service", 0);
  const c = compile(ids([lock("/system.slice/**/*.service", Direction.out)]), 0);
  const set = nodeOf("/system.slice/**", 0);

  test("matches at any depth below the anchor, children included, and the outermost match wins", () => {
    expect(bindingFor(c, "/system.slice")).toEqual({ exact: 0n, matched: 0n, children: 0n, descend: set });
    expect(bindingFor(c, "/system.slice/cron.service")).toEqual({ exact: 0n, matched: svc, children: 0n, descend: 0n });
    expect(bindingFor(c, "/system.slice/system-getty.slice")).toEqual({ exact: 0n, matched: 0n, children: 0n, descend: set });
    expect(bindingFor(c, "/system.slice/system-getty.slice/getty@tty1.service")?.matched).toBe(svc);
    expect(bindingFor(c, "/system.slice/a.slice/b.slice/c.slice/d.service")?.matched).toBe(svc);
    // Inside a matched service: its own business (Delegate=yes), not matched again.
    expect(bindingFor(c, "/system.slice/podman.service/inner.service")).toBeNull();
    expect(bindingFor(c, "/user.slice/x.service")).toBeNull();
    expect(bindingFor(c, "/system.slice.service")).toBeNull();
  });

  test("past level 32 it still binds; the decision judges chains to level 32 (bpf/cgwarden.h)", () => {
    const deep = "/system.slice" + "/d.slice".repeat(40) + "/x.service";
    expect(bindingFor(c, deep)?.matched).toBe(svc);
  });

  test("the scan walks every level below an anchor and stops inside matched cgroups", () => {
    const tree = treeOf(["/system.slice", "/system.slice/a.service", "/system.slice/a.service/in.service", "/system.slice/g.slice", "/system.slice/g.slice/g@1.service", "/system.slice/g.slice/x.scope", "/user.slice"]);
    expect(scan(c, tree)).toEqual(["/system.slice", "/system.slice/a.service", "/system.slice/g.slice", "/system.slice/g.slice/g@1.service", "/system.slice/g.slice/x.scope"]);
  });

  test("yields level by level, so a level's directories are listed after the level above is taken", () => {
    const listed: string[] = [];
    const tree = treeOf(["/system.slice", "/system.slice/g.slice", "/system.slice/g.slice/h.slice", "/system.slice/g.slice/h.slice/x.service"]);
    const levels: string[][] = [];
    for (const level of boundLevels(c, (dir) => (listed.push(dir), tree(dir)))) levels.push([...listed.splice(0), "|", ...level.map((e) => e.path)]);
    expect(levels).toEqual([
      ["|"],
      ["|", "/system.slice"],
      ["/system.slice", "|", "/system.slice/g.slice"],
      ["/system.slice/g.slice", "|", "/system.slice/g.slice/h.slice"],
      ["/system.slice/g.slice/h.slice", "|", "/system.slice/g.slice/h.slice/x.service"],
    ]);
  });

  test("a nested anchor's set holds what it inherits, unless a template above matched the anchor", () => {
    const nested = compile(ids([lock("/s/**/*.service"), lock("/s/a.slice/**/*.scope"), lock("/s/x.service/**/*.scope")]), 0);
    const aSet = nested.templateSets.get(nested.paths.get("/s/a.slice")!.descend)!.map((t) => nested.nodes.get(t.node));
    expect(aSet).toEqual(["/s/a.slice/**/*.scope", "/s/**/*.service"]);
    const xSet = nested.templateSets.get(nested.paths.get("/s/x.service")!.descend)!.map((t) => nested.nodes.get(t.node));
    expect(xSet).toEqual(["/s/x.service/**/*.scope"]);
    expect(bindingFor(nested, "/s/a.slice/b.slice/y.service")?.matched).toBe(nodeOf("/s/**/*.service", 0));
    expect(bindingFor(nested, "/s/a.slice/b.slice/y.scope")?.matched).toBe(nodeOf("/s/a.slice/**/*.scope", 0));
    expect(bindingFor(nested, "/s/x.service/z.scope")?.matched).toBe(nodeOf("/s/x.service/**/*.scope", 0));
    expect(bindingFor(nested, "/s/x.service/z.service")?.matched).toBe(0n);
  });

  test("templates of one place that can match one name are refused", () => {
    expect(() => compile(ids([lock("/s/**/*.service"), lock("/s/**/foo*")]), 0)).toThrow("can both match one cgroup");
    expect(() => compile(ids([lock("/s/**/*.service"), lock("/s/a/*.scope"), lock("/s/b/**/*.scope")]), 0)).not.toThrow();
    const many = Array.from({ length: 16 }, (_, i) => lock(`/s/a/**/*.u${i}`));
    expect(() => compile(ids([lock("/s/**/*.service"), ...many]), 0)).toThrow("17 recursive templates are in force below /s/a");
  });

  test("across places the nearest template wins: the directory's own, then the deepest anchor", () => {
    const near = compile(ids([lock("/s/**/*.service"), lock("/s/g.slice/*.service"), lock("/s/a/b/**/x*")]), 0);
    expect(bindingFor(near, "/s/g.slice/getty@1.service")?.matched).toBe(nodeOf("/s/g.slice/*.service", 0));
    expect(bindingFor(near, "/s/h.slice/getty@1.service")?.matched).toBe(nodeOf("/s/**/*.service", 0));
    expect(bindingFor(near, "/s/a/b/c/x.service")?.matched).toBe(nodeOf("/s/a/b/**/x*", 0));
    expect(bindingFor(near, "/s/a/b/c/y.service")?.matched).toBe(nodeOf("/s/**/*.service", 0));
    // Below a matched cgroup the outer set is gone.
    expect(bindingFor(near, "/s/g.slice/getty@1.service/z.service")).toBeNull();
  });
});

describe("decisions over bound cgroups", () => {
  // /system.slice (2), web.service (3), db.service (4), /other (5), /admin (6)
  const paths = new Map<bigint, string>([[1n, "/"], [2n, "/system.slice"], [3n, "/system.slice/web.service"], [4n, "/system.slice/db.service"], [5n, "/other"], [6n, "/admin"]]);
  const chain = { web: [1n, 2n, 3n], db: [1n, 2n, 4n], other: [1n, 5n], admin: [1n, 6n] };
  const actor = (cgroupChain: bigint[], euid = 0): Actor => ({ tgid: 9, startTicks: 1n, euid, exe: { dev: 1n, ino: 1n }, cgroupChain });

  function policyOf(rules: RuleSpec[]): Policy {
    const c = compile(ids(rules), 0);
    const p = emptyPolicy();
    for (const [node, l] of c.locks) p.locks.set(node, { id: l.rule_id, node, directions: l.directions, mode: l.mode ? "audit" : "enforce" } satisfies LockRule);
    for (const g of c.gates.values())
      g.gate.rule_id.forEach((id, slot) => {
        if (!id) return;
        const spec = rules[id - 1] as GateSpec;
        p.gates.push({ id, kind: g.kind, anchor: g.anchor, slot, selectors: { ...(spec.selectors.uid !== undefined ? { uid: spec.selectors.uid } : {}), ...(spec.selectors.cgroup ? { cgroup: nodeOf(spec.selectors.cgroup, 0) } : {}) } });
      });
    for (const [id, path] of paths) {
      const b = bindingFor(c, path);
      if (b) p.bound.set(id, b);
    }
    return p;
  }

  test("a template lock --out: a move from one service to another is out of the first", () => {
    const p = policyOf([lock("/system.slice/*.service", Direction.out)]);
    expect(decide(p, { actor: actor(chain.other), src: chain.web, dst: chain.db })).toMatchObject({ verdict: "deny", ruleId: 1, ruleCgroup: 3n });
    expect(decide(p, { actor: actor(chain.other), src: chain.other, dst: chain.db }).verdict).toBe("allow");
  });

  test("a cgroup's own lock and its template's lock both apply, its own judged first", () => {
    const p = policyOf([lock("/system.slice/*.service", Direction.out), lock("/system.slice/web.service", Direction.in)]);
    expect(decide(p, { actor: actor(chain.other), src: chain.other, dst: chain.web })).toMatchObject({ verdict: "deny", ruleId: 2 });
    expect(decide(p, { actor: actor(chain.other), src: chain.web, dst: chain.other })).toMatchObject({ verdict: "deny", ruleId: 1 });
  });

  test("an allow on the template exempts from the cgroup's own lock too: the gate is the cgroup's", () => {
    const p = policyOf([lock("/system.slice/web.service", Direction.out), { kind: "allow", path: "/system.slice/*.service", selectors: { uid: 0, cgroup: "/admin" } }]);
    expect(decide(p, { actor: actor(chain.admin), src: chain.web, dst: chain.other }).verdict).toBe("allow");
    expect(decide(p, { actor: actor(chain.other), src: chain.web, dst: chain.other }).verdict).toBe("deny");
  });

  test("a waiting rule decides nothing until its path is bound", () => {
    const p = policyOf([lock("/system.slice/gone.service")]);
    expect(decide(p, { actor: actor(chain.other), src: chain.web, dst: chain.other }).verdict).toBe("allow");
  });
});

describe("diff: the file is the whole truth", () => {
  const base: PolicySpec = { globalMode: "enforce", recordAll: false, rules: [lock("/a", Direction.out), { kind: "allow", path: "/a", selectors: { uid: 7 } }] };
  const current = { settings: { globalMode: "enforce" as const, recordAll: false }, rules: ids(base.rules) };

  test("the same spec is no change", () => {
    expect(diffIsEmpty(diffSpecs(current, base))).toBe(true);
  });
  test("a lock with other directions is an update that keeps its id", () => {
    const d = diffSpecs(current, { ...base, rules: [lock("/a", Direction.in), base.rules[1]!] });
    expect(d.updated).toEqual([{ id: 1, spec: lock("/a", Direction.in) }]);
    expect(d.added).toEqual([]);
  });
  test("rules not in the spec are removed; new ones added; settings compared", () => {
    const d = diffSpecs(current, { globalMode: "audit", recordAll: false, rules: [lock("/b")] });
    expect(d.removed.map((r) => r.id)).toEqual([1, 2]);
    expect(d.added).toEqual([lock("/b")]);
    expect(d.settingsChanged).toBe(true);
  });
  test("an --exe that now resolves to another inode is an update (an upgraded binary)", () => {
    const exe = (ino: bigint): RuleSpec => ({ kind: "allow", path: "/a", selectors: { exe: { path: "/usr/bin/x", dev: 1n, ino } } });
    const d = diffSpecs({ settings: current.settings, rules: ids([exe(1n)]) }, { ...base, rules: [exe(2n)] });
    expect(d.updated.map((r) => r.id)).toEqual([1]);
  });
});
