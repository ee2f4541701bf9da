// Compiles a spec into the map contents of one epoch (bpf/cgwarden.h): locks,
// gates and selectors keyed by node, the paths and template sets the mkdir
// tracepoint binds new cgroups by, and the binding of any cgroup given its
// path, which is what cgwarden_mkdir() computes in BPF.
//
// A binding depends on the path alone: a cgroup's binding is its parent's
// binding and its own name and path, folded from the root (childBinding is
// the one step, as the tracepoint takes it). Recursive templates ride along
// in `descend`; an anchor's set holds the templates it inherits too, so a
// new cgroup reads one set, never a list of ancestors.
//
// When templates of different places match one name, the nearest wins: a
// directory's single-level templates, then the recursive templates anchored
// deepest. Templates of one place that could match one name are refused.
import { CliError } from "../errors.ts";
import { DIR_TEMPLATES, GATE_SLOTS, Mode, RuleKind, modeName, type BindingValue, type GateValue, type LockValue, type ModeName, type TemplateValue } from "../object/abi.ts";
import type { GateRule, LockRule, Policy } from "./model.ts";
import { baseName, childPath, levelOf, nodeOf, parentPath, parseRulePath, patternsOverlap, templateMatches, type Template } from "./paths.ts";
import { kernelSelectors, selectorKeys, type Selectors } from "./selectors.ts";
import type { IdentifiedRule, RuleSpec, SelectorSpec } from "./spec.ts";

/** What a named path puts on the cgroup there (cgw_path). */
export interface PathEntry {
  node: bigint;
  children: bigint;
  descend: bigint;
}

export interface CompiledGate {
  anchor: bigint;
  kind: "allow" | "delegate";
  gate: GateValue;
}

export interface CompiledTemplate {
  node: bigint;
  template: Template;
  value: TemplateValue;
}

export interface Compiled {
  epoch: number;
  locks: Map<bigint, LockValue>;
  /** Keyed by `${anchor}/${kind}`. */
  gates: Map<string, CompiledGate>;
  /** Selector keys with their slot bits. */
  selectors: Array<{ anchor: bigint; kind: number; selector: number; value: bigint; value2: bigint; bits: bigint }>;
  /** Exact paths, template directories and recursive templates' anchors. */
  paths: Map<string, PathEntry>;
  templateSets: Map<bigint, CompiledTemplate[]>;
  /** Each gate rule's slot. */
  slots: Map<number, number>;
  /** Every node the spec names, with its path or template. */
  nodes: Map<bigint, string>;
}

const gateKey = (anchor: bigint, kind: string) => `${anchor}/${kind}`;

/** A spec the maps cannot hold; `rule` is the one that does not fit, so a policy file can name its line. */
export class PolicyConflict extends CliError {
  constructor(
    message: string,
    readonly rule: RuleSpec,
    /** The rule it clashes with, when there is one (overlapping templates): a merged policy names both files. */
    readonly other?: RuleSpec,
  ) {
    super(message);
  }
}

/** The selectors a gate rule has in the kernel's terms, under an epoch. */
export function selectorsFor(s: SelectorSpec, epoch: number): Selectors {
  return kernelSelectors(s, (path) => nodeOf(path, epoch));
}

export function compile(rules: IdentifiedRule[], epoch: number): Compiled {
  const c: Compiled = {
    epoch,
    locks: new Map(),
    gates: new Map(),
    selectors: [],
    paths: new Map(),
    templateSets: new Map(),
    slots: new Map(),
    nodes: new Map(),
  };
  const templatesByDir = new Map<string, Map<string, Template>>();
  const recursiveByAnchor = new Map<string, Map<string, Template>>();
  const namedBy = new Map<string, RuleSpec>();
  const name = (path: string, by: RuleSpec) => {
    if (!namedBy.has(path)) namedBy.set(path, by);
    const node = nodeOf(path, epoch);
    c.nodes.set(node, path);
    const p = parseRulePath(path);
    if (!p.template) {
      c.paths.set(path, { ...entryOf(c, path), node });
    } else {
      const byDir = p.template.recursive ? recursiveByAnchor : templatesByDir;
      const dir = byDir.get(p.template.dir) ?? new Map<string, Template>();
      dir.set(path, p.template);
      byDir.set(p.template.dir, dir);
    }
    return node;
  };

  const selectorBits = new Map<string, (typeof c.selectors)[number]>();
  for (const { id, spec } of [...rules].sort((a, b) => a.id - b.id)) {
    const anchor = name(spec.path, spec);
    if (spec.kind === "lock") {
      c.locks.set(anchor, { rule_id: id, directions: spec.directions, mode: Mode[spec.mode] });
      continue;
    }
    if (spec.selectors.cgroup !== undefined) name(spec.selectors.cgroup, spec);
    const key = gateKey(anchor, spec.kind);
    const entry = c.gates.get(key) ?? { anchor, kind: spec.kind, gate: { live: 0n, need: [0n, 0n, 0n, 0n], rule_id: new Array<number>(GATE_SLOTS).fill(0) } };
    c.gates.set(key, entry);
    const slot = entry.gate.rule_id.indexOf(0);
    if (slot < 0) throw new PolicyConflict(`${spec.kind} rules on ${spec.path} exceed ${GATE_SLOTS}; merge some (a rule may name several selectors) or remove some`, spec);
    const bit = 1n << BigInt(slot);
    entry.gate.rule_id[slot] = id;
    entry.gate.live |= bit;
    c.slots.set(id, slot);
    const sel = selectorsFor(spec.selectors, epoch);
    for (const [selector, value, value2] of selectorKeys(sel)) {
      entry.gate.need[selector] = entry.gate.need[selector]! | bit;
      const k = `${anchor}/${spec.kind}/${selector}/${value}/${value2}`;
      const s = selectorBits.get(k) ?? { anchor, kind: RuleKind[spec.kind], selector, value, value2, bits: 0n };
      s.bits |= bit;
      selectorBits.set(k, s);
    }
  }
  c.selectors = [...selectorBits.values()];

  const compileTemplate = (path: string, t: Template): CompiledTemplate => {
    const node = nodeOf(path, epoch);
    return { node, template: t, value: { node, prefix_len: Buffer.byteLength(t.prefix), suffix_len: Buffer.byteLength(t.suffix), prefix: t.prefix, suffix: t.suffix } };
  };
  const refuseOverlaps = (list: Array<[string, Template]>, where: string) => {
    if (list.length > DIR_TEMPLATES)
      throw new PolicyConflict(`${list.length} templates match ${where}; at most ${DIR_TEMPLATES} may`, namedBy.get(list[DIR_TEMPLATES]![0])!);
    for (let i = 0; i < list.length; i++)
      for (let j = i + 1; j < list.length; j++)
        if (patternsOverlap(list[i]![1], list[j]![1]))
          throw new PolicyConflict(
            `templates ${list[i]![0]} and ${list[j]![0]} can both match one cgroup (${where}); make them disjoint (a cgroup takes the rules of one template)`,
            namedBy.get(list[j]![0])!,
            namedBy.get(list[i]![0])!,
          );
  };

  // Recursive sets, shallowest anchor first: each inherits its parent's set as the fold reaches it.
  // The nearest template wins: an anchor's own templates come before the ones it inherits (BPF takes the first match).
  for (const anchor of [...recursiveByAnchor.keys()].sort((a, b) => levelOf(a) - levelOf(b))) {
    const above = anchor === "/" ? 0n : (bindingFor(c, parentPath(anchor))?.descend ?? 0n);
    // An anchor that a set in force above it matches by name ends that set there, as any cgroup does.
    const inherited = above && !matchIn(c, above, baseName(anchor)) ? (c.templateSets.get(above) ?? []) : [];
    const own = [...recursiveByAnchor.get(anchor)!];
    refuseOverlaps(own, `at any depth below ${anchor}`);
    const list = [...own.map(([path, t]) => compileTemplate(path, t)), ...inherited];
    if (list.length > DIR_TEMPLATES)
      throw new PolicyConflict(`${list.length} recursive templates are in force below ${anchor}, its own and those above it; at most ${DIR_TEMPLATES} may`, namedBy.get(own[0]![0])!);
    const setId = nodeOf(`${anchor}/**`, epoch);
    c.paths.set(anchor, { ...entryOf(c, anchor), descend: setId });
    c.templateSets.set(setId, list);
  }

  // A directory's single-level templates are matched before the recursive ones in force there: the nearest wins.
  for (const [dir, templates] of templatesByDir) {
    const list = [...templates.entries()];
    refuseOverlaps(list, `children of ${dir}`);
    const setId = nodeOf(dir, epoch);
    c.paths.set(dir, { ...entryOf(c, dir), children: setId });
    c.templateSets.set(
      setId,
      list.map(([path, t]) => compileTemplate(path, t)),
    );
  }
  return c;
}

function entryOf(c: Compiled, path: string): PathEntry {
  return c.paths.get(path) ?? { node: 0n, children: 0n, descend: 0n };
}

/** The node of the first template of a set that `name` matches, or 0n: match_template() in BPF. */
function matchIn(c: Compiled, setId: bigint, name: string): bigint {
  return c.templateSets.get(setId)?.find((t) => templateMatches(t.template, name))?.node ?? 0n;
}

const empty = (b: BindingValue) => !b.exact && !b.matched && !b.children && !b.descend;

/**
 * The binding of the cgroup at `path` given its parent's: one step of
 * cgwarden_mkdir() in BPF, which reads the parent's entry in `bound`.
 */
export function childBinding(c: Compiled, parent: BindingValue | null, path: string): BindingValue | null {
  const name = baseName(path);
  const b: BindingValue = { exact: 0n, matched: 0n, children: 0n, descend: 0n };
  if (parent && name !== "") {
    if (parent.children) b.matched = matchIn(c, parent.children, name);
    if (parent.descend) {
      const deep = matchIn(c, parent.descend, name);
      // Outermost match wins: the set stops at the cgroup it bound.
      if (deep) b.matched ||= deep;
      else b.descend = parent.descend;
    }
  }
  const own = c.paths.get(path);
  if (own) {
    b.exact = own.node;
    b.children = own.children;
    if (own.descend) b.descend = own.descend;
  }
  return empty(b) ? null : b;
}

/** What the cgroup at `path` is bound to: childBinding() folded from the root. */
export function bindingFor(c: Compiled, path: string): BindingValue | null {
  const root = c.paths.get("/");
  let b: BindingValue | null = root ? { exact: root.node, matched: 0n, children: root.children, descend: root.descend } : null;
  if (b && empty(b)) b = null;
  if (path === "/") return b;
  let at = "";
  for (const part of path.slice(1).split("/")) {
    at = `${at}/${part}`;
    b = childBinding(c, b, at);
  }
  return b;
}

export interface BoundPath {
  path: string;
  binding: BindingValue;
}

/**
 * Every cgroup that carries a binding, one level of the tree at a time from
 * the root: the named paths of that level and the children of the previous
 * level's cgroups whose bindings reach their children (template sets). A
 * level's directories are listed only after the caller has taken the level
 * before (the generator resumes then), which is what makes writeEpoch's
 * binding race-free: a cgroup created after its parent's binding was written
 * is bound by the kernel, one created before is in the listing.
 * Named paths that do not exist are yielded too; listing them finds nothing.
 */
export function* boundLevels(c: Compiled, children: (dir: string) => string[]): Generator<BoundPath[]> {
  const named = new Map<number, string[]>();
  for (const path of c.paths.keys()) {
    const level = levelOf(path);
    const list = named.get(level);
    if (list) list.push(path);
    else named.set(level, [path]);
  }
  const deepestNamed = Math.max(-1, ...named.keys());
  let frontier: BoundPath[] = [];
  for (let level = 0; level <= deepestNamed || frontier.length > 0; level++) {
    const batch = new Map<string, BindingValue>();
    for (const path of named.get(level) ?? []) {
      const b = bindingFor(c, path);
      if (b) batch.set(path, b);
    }
    for (const { path: dir, binding } of frontier)
      for (const name of children(dir)) {
        const path = childPath(dir, name);
        if (c.paths.has(path)) continue;
        const b = childBinding(c, binding, path);
        if (b) batch.set(path, b);
      }
    const out = [...batch].map(([path, binding]) => ({ path, binding }));
    yield out;
    frontier = out.filter((e) => e.binding.children || e.binding.descend);
  }
}

/**
 * The model's view of a compiled spec over a cgroup tree: what the kernel's
 * maps hold once every cgroup in `cgroups` is bound. The differential test
 * holds the kernel, which binds through the mkdir tracepoint, to it.
 */
export function modelPolicy(c: Compiled, rules: IdentifiedRule[], globalMode: ModeName, cgroups: Array<{ id: bigint; path: string }>): Policy {
  const locks = new Map<bigint, LockRule>();
  for (const [node, l] of c.locks) locks.set(node, { id: l.rule_id, node, directions: l.directions, mode: modeName(l.mode) });
  const byId = new Map(rules.map((r) => [r.id, r.spec]));
  const gates: GateRule[] = [];
  for (const g of c.gates.values())
    g.gate.rule_id.forEach((id, slot) => {
      const spec = byId.get(id);
      if (id && spec && spec.kind !== "lock") gates.push({ id, kind: g.kind, anchor: g.anchor, slot, selectors: selectorsFor(spec.selectors, c.epoch) });
    });
  const bound = new Map<bigint, BindingValue>();
  for (const { id, path } of cgroups) {
    const b = bindingFor(c, path);
    if (b) bound.set(id, b);
  }
  return { globalMode, locks, gates, bound, nodePaths: c.nodes };
}
