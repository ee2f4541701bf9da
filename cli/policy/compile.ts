// Compiles a spec into the map contents of one epoch (bpf/cgwarden.h): locks,
// gates and selectors keyed by node, the paths and template sets the mkdir
// tracepoint binds new cgroups by, and the binding of any cgroup given its
// path, which is what cgwarden_mkdir() computes in BPF.
import { CliError } from "../errors.ts";
import { DIR_TEMPLATES, GATE_SLOTS, Mode, RuleKind, Selector, type GateValue, type LockValue, type ModeName, type TemplateValue } from "../object/abi.ts";
import type { GateRule, LockRule, Policy } from "./model.ts";
import { baseName, nodeOf, parentPath, parseRulePath, templateMatches, templatesOverlap, type Template } from "./paths.ts";
import type { Selectors } from "./selectors.ts";
import type { IdentifiedRule, RuleSpec, SelectorSpec } from "./spec.ts";

export interface Binding {
  exact: bigint;
  matched: bigint;
  children: bigint;
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
  /** Exact paths and template directories. */
  paths: Map<string, { node: bigint; children: bigint }>;
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
  ) {
    super(message);
  }
}

/** The selectors a gate rule has in the kernel's terms, under an epoch. */
export function selectorsFor(s: SelectorSpec, epoch: number): Selectors {
  const out: Selectors = {};
  if (s.pid) out.pid = { ...s.pid };
  if (s.exe) out.exe = { dev: s.exe.dev, ino: s.exe.ino };
  if (s.uid !== undefined) out.uid = s.uid;
  if (s.cgroup !== undefined) out.cgroup = nodeOf(s.cgroup, epoch);
  return out;
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
  const namedBy = new Map<string, RuleSpec>();
  const name = (path: string, by: RuleSpec) => {
    if (!namedBy.has(path)) namedBy.set(path, by);
    const node = nodeOf(path, epoch);
    c.nodes.set(node, path);
    const p = parseRulePath(path);
    if (!p.template) {
      const entry = c.paths.get(path) ?? { node: 0n, children: 0n };
      c.paths.set(path, { ...entry, node });
    } else {
      const dir = templatesByDir.get(p.template.dir) ?? new Map<string, Template>();
      dir.set(path, p.template);
      templatesByDir.set(p.template.dir, dir);
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
    const keys: Array<[number, bigint, bigint]> = [];
    if (sel.pid) keys.push([Selector.pid, BigInt(sel.pid.tgid), sel.pid.startTicks]);
    if (sel.exe) keys.push([Selector.exe, sel.exe.dev, sel.exe.ino]);
    if (sel.uid !== undefined) keys.push([Selector.uid, BigInt(sel.uid), 0n]);
    if (sel.cgroup !== undefined) keys.push([Selector.cgroup, sel.cgroup, 0n]);
    for (const [selector, value, value2] of keys) {
      entry.gate.need[selector] = entry.gate.need[selector]! | bit;
      const k = `${anchor}/${spec.kind}/${selector}/${value}/${value2}`;
      const s = selectorBits.get(k) ?? { anchor, kind: RuleKind[spec.kind], selector, value, value2, bits: 0n };
      s.bits |= bit;
      selectorBits.set(k, s);
    }
  }
  c.selectors = [...selectorBits.values()];

  for (const [dir, templates] of templatesByDir) {
    const list = [...templates.entries()];
    if (list.length > DIR_TEMPLATES)
      throw new PolicyConflict(`${list.length} templates name children of ${dir}; at most ${DIR_TEMPLATES} per directory`, namedBy.get(list[DIR_TEMPLATES]![0])!);
    for (let i = 0; i < list.length; i++)
      for (let j = i + 1; j < list.length; j++)
        if (templatesOverlap(list[i]![1], list[j]![1]))
          throw new PolicyConflict(
            `templates ${list[i]![0]} and ${list[j]![0]} can both match one cgroup; make them disjoint (a cgroup takes the rules of one template)`,
            namedBy.get(list[j]![0])!,
          );
    const setId = nodeOf(dir, epoch);
    const entry = c.paths.get(dir) ?? { node: 0n, children: 0n };
    c.paths.set(dir, { ...entry, children: setId });
    c.templateSets.set(
      setId,
      list.map(([path, t]) => {
        const node = nodeOf(path, epoch);
        const value = { node, prefix_len: Buffer.byteLength(t.prefix), suffix_len: Buffer.byteLength(t.suffix), prefix: t.prefix, suffix: t.suffix };
        return { node, template: t, value };
      }),
    );
  }
  return c;
}

/** What the cgroup at `path` is bound to; the twin of cgwarden_mkdir() in BPF. */
export function bindingFor(c: Compiled, path: string): Binding | null {
  const own = path === "/" ? c.paths.get("/") : c.paths.get(path);
  const b: Binding = { exact: own?.node ?? 0n, matched: 0n, children: own?.children ?? 0n };
  if (path !== "/") {
    const set = c.templateSets.get(c.paths.get(parentPath(path))?.children ?? 0n);
    const name = baseName(path);
    b.matched = set?.find((t) => templateMatches(t.template, name))?.node ?? 0n;
  }
  return b.exact || b.matched || b.children ? b : null;
}

/** Paths that may carry a binding, given a way to list a directory's children. */
export function bindablePaths(c: Compiled, children: (dir: string) => string[]): string[] {
  const out = new Set<string>(c.paths.keys());
  for (const [dir, entry] of c.paths) {
    if (!entry.children) continue;
    for (const name of children(dir)) out.add(dir === "/" ? `/${name}` : `${dir}/${name}`);
  }
  return [...out];
}

/**
 * The model's view of a compiled spec over a cgroup tree: what the kernel's
 * maps hold once every cgroup in `cgroups` is bound. The differential test
 * holds the kernel, which binds through the mkdir tracepoint, to it.
 */
export function modelPolicy(c: Compiled, rules: IdentifiedRule[], globalMode: ModeName, cgroups: Array<{ id: bigint; path: string }>): Policy {
  const locks = new Map<bigint, LockRule>();
  for (const [node, l] of c.locks) locks.set(node, { id: l.rule_id, node, directions: l.directions, mode: l.mode === Mode.audit ? "audit" : "enforce" });
  const byId = new Map(rules.map((r) => [r.id, r.spec]));
  const gates: GateRule[] = [];
  for (const g of c.gates.values())
    g.gate.rule_id.forEach((id, slot) => {
      const spec = byId.get(id);
      if (id && spec && spec.kind !== "lock") gates.push({ id, kind: g.kind, anchor: g.anchor, slot, selectors: selectorsFor(spec.selectors, c.epoch) });
    });
  const bound = new Map<bigint, Binding>();
  for (const { id, path } of cgroups) {
    const b = bindingFor(c, path);
    if (b) bound.set(id, b);
  }
  return { globalMode, locks, gates, bound, nodePaths: c.nodes };
}
