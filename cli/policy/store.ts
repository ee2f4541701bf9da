// Reads and replaces the policy in the pinned maps.
//
// The maps hold two epochs; settings.epoch names the one in force. A change
// never edits the policy in force: it writes the whole new policy under the
// other epoch, flips settings.epoch (one element write, together with the
// global settings), waits until no decision can still be reading the old
// epoch (the grace map, see bpf/cgwarden.bpf.c), and then deletes the old
// epoch. Every decision therefore judges one policy, old or new, whole; a
// change that is killed midway leaves the policy in force untouched, and its
// leftovers in the other epoch are swept by the next change.
import { statSync, readdirSync, type Dirent } from "node:fs";
import { join } from "node:path";
import { BpfError } from "../libbpf/index.ts";
import { CliError } from "../errors.ts";
import type { PinnedState } from "../pins/state.ts";
import {
  BindingLayout,
  BoundKeyLayout,
  GATE_SLOTS,
  GateKeyLayout,
  GateLayout,
  LockLayout,
  Mode,
  NodeStatsLayout,
  PathKeyLayout,
  PathLayout,
  RuleKind,
  RuleLayout,
  Selector,
  SelectorKeyLayout,
  encodeTemplateSet,
  modeName,
  ruleKindName,
  type RuleValue,
  type SettingsValue,
} from "../object/abi.ts";
import { u32Key, u64Key } from "../object/struct.ts";
import { cgroupMount } from "../kernel/cgroupfs.ts";
import { bindablePaths, bindingFor, compile, type Binding, type Compiled } from "./compile.ts";
import type { GateRule, LockRule, Policy } from "./model.ts";
import { nodeBase, nodeEpoch, nodeOf } from "./paths.ts";
import { selectorsOf } from "./selectors.ts";
import { diffIsEmpty, diffSpecs, type IdentifiedRule, type PolicySpec, type RuleSpec, type SpecDiff } from "./spec.ts";

const E2BIG = 7;
const EPOCH_KEY_BIT = 0x80000000;

export interface ReplaceResult {
  changed: boolean;
  diff: SpecDiff;
  /** The records of the policy now in force (after a dry run: the one that would be). */
  records: RuleValue[];
}

/** How a rule's path is bound right now. */
export interface BindState {
  state: "bound" | "waiting";
  /** Bound cgroups: one for a path, any number for a template. */
  cgroups: bigint[];
  /** Cgroups bound to the path since the rule was made. */
  binds: number;
}

export class PolicyStore {
  constructor(private readonly state: PinnedState) {}

  // ---- reading ----------------------------------------------------------

  private epoch(): number {
    return this.state.settings().epoch & 1;
  }

  /** The records of the policy in force, by id. */
  records(): RuleValue[] {
    const epoch = this.epoch();
    const out: RuleValue[] = [];
    for (const [k, v] of this.state.maps.rules.entries(4, RuleLayout.size)) {
      if ((k.readUInt32LE(0) & EPOCH_KEY_BIT ? 1 : 0) === epoch) out.push(RuleLayout.decode(v));
    }
    return out.sort((a, b) => a.id - b.id);
  }

  rule(id: number): RuleValue | null {
    const raw = this.state.maps.rules.lookup(u32Key(ruleKey(id, this.epoch())), RuleLayout.size);
    return raw ? RuleLayout.decode(raw) : null;
  }

  /** The spec in force: what `export` writes and every change starts from. */
  spec(): PolicySpec {
    const s = this.state.settings();
    return { globalMode: modeName(s.global_mode), recordAll: s.record_all !== 0, rules: this.records().map(specOfRecord) };
  }

  specOf(r: RuleValue): RuleSpec {
    return specOfRecord(r);
  }

  identified(): IdentifiedRule[] {
    return this.records().map((r) => ({ id: r.id, spec: specOfRecord(r) }));
  }

  /** The policy as the kernel sees it: what the maps of the epoch in force hold. */
  livePolicy(): Policy {
    const settings = this.state.settings();
    const epoch = settings.epoch & 1;
    const locks = new Map<bigint, LockRule>();
    for (const [k, v] of this.state.maps.locks.entries(8, LockLayout.size)) {
      const node = k.readBigUInt64LE(0);
      if (nodeEpoch(node) !== epoch) continue;
      const l = LockLayout.decode(v);
      locks.set(node, { id: l.rule_id, node, directions: l.directions, mode: modeName(l.mode) });
    }
    const records = new Map(this.records().map((r) => [r.id, r]));
    const gates: GateRule[] = [];
    for (const [k, v] of this.state.maps.gates.entries(GateKeyLayout.size, GateLayout.size)) {
      const key = GateKeyLayout.decode(k);
      if (nodeEpoch(key.anchor) !== epoch) continue;
      const g = GateLayout.decode(v);
      const kind = key.kind === RuleKind.delegate ? "delegate" : "allow";
      for (let slot = 0; slot < GATE_SLOTS; slot++) {
        if (!(g.live & (1n << BigInt(slot)))) continue;
        const rec = records.get(g.rule_id[slot]!);
        if (rec) gates.push({ id: rec.id, kind, anchor: key.anchor, slot, selectors: selectorsOf(rec) });
      }
    }
    const bound = new Map<bigint, Binding>();
    for (const [k, v] of this.state.maps.bound.entries(BoundKeyLayout.size, BindingLayout.size)) {
      const key = BoundKeyLayout.decode(k);
      if (key.epoch === epoch) bound.set(key.cgroup, BindingLayout.decode(v));
    }
    const nodePaths = new Map<bigint, string>();
    for (const r of records.values()) {
      nodePaths.set(r.node, r.cgroup_path);
      if (r.sel_node) nodePaths.set(r.sel_node, r.sel_cgroup_path);
    }
    return { globalMode: modeName(settings.global_mode), locks, gates, bound, nodePaths };
  }

  /** Where each record's path is bound now; one pass over `bound` for all of them. */
  bindStates(records: RuleValue[]): Map<number, BindState> {
    const epoch = this.epoch();
    const byNode = new Map<bigint, bigint[]>();
    for (const [k, v] of this.state.maps.bound.entries(BoundKeyLayout.size, BindingLayout.size)) {
      const key = BoundKeyLayout.decode(k);
      if (key.epoch !== epoch) continue;
      const b = BindingLayout.decode(v);
      for (const n of [b.exact, b.matched]) if (n) byNode.set(n, [...(byNode.get(n) ?? []), key.cgroup]);
    }
    const out = new Map<number, BindState>();
    const live = liveCgroupIds();
    for (const r of records) {
      const cgroups = (byNode.get(r.node) ?? []).filter((id) => live.has(id)).sort((a, b) => (a < b ? -1 : 1));
      const stats = this.nodeStats(r.node);
      out.set(r.id, { state: cgroups.length ? "bound" : "waiting", cgroups, binds: Number((stats?.binds ?? 0n) - r.binds_base) });
    }
    return out;
  }

  private nodeStats(node: bigint) {
    const raw = this.state.maps.node_stats.lookup(u64Key(nodeBase(node)), NodeStatsLayout.size);
    return raw ? NodeStatsLayout.decode(raw) : null;
  }

  // ---- changing ------------------------------------------------------------

  /**
   * Makes the policy in force equal `desired`, atomically, or changes
   * nothing (and says so) when it already is. With dryRun, only computes.
   */
  replace(desired: PolicySpec, dryRun = false): ReplaceResult {
    const s = this.state.settings();
    const active = s.epoch & 1;
    const next = 1 - active;
    const before = this.records();
    const diff = diffSpecs({ settings: { globalMode: modeName(s.global_mode), recordAll: s.record_all !== 0 }, rules: before.map((r) => ({ id: r.id, spec: specOfRecord(r) })) }, desired);
    if (diffIsEmpty(diff)) return { changed: false, diff, records: before };

    let nextId = s.next_rule_id || 1;
    const added = diff.added.map((spec) => ({ id: nextId++, spec }));
    const rules: IdentifiedRule[] = [...diff.unchanged, ...diff.updated, ...added];
    const compiled = compile(rules, next);
    const previous = new Map(before.map((r) => [r.id, r]));
    if (dryRun) return { changed: true, diff: { ...diff, added: added.map((a) => a.spec) }, records: this.recordsFor(rules, compiled, previous, true) };

    this.sweep(next);
    try {
      this.writeEpoch(compiled);
      const records = this.recordsFor(rules, compiled, previous, false);
      for (const r of records) this.write("rules", u32Key(ruleKey(r.id, next)), RuleLayout.encode(r));
      this.flip(s, next, nextId, desired);
      this.sweep(active);
      this.pruneStats(compiled);
      return { changed: true, diff, records };
    } catch (e) {
      // Nothing in force changed; leave the other epoch clean for the next change.
      if ((this.state.settings().epoch & 1) !== next) this.sweep(next);
      throw e;
    }
  }

  private writeEpoch(c: Compiled): void {
    const m = this.state.maps;
    // Paths and templates first: from here on cgwarden_mkdir() binds new cgroups under this epoch too, so the scan below misses none.
    for (const [path, v] of c.paths) this.write("paths", PathKeyLayout.encode({ epoch: c.epoch, path }), PathLayout.encode(v));
    for (const [id, ts] of c.templateSets) this.write("templates", u64Key(id), encodeTemplateSet(ts.map((t) => t.value)));
    for (const node of c.nodes.keys()) {
      const key = u64Key(nodeBase(node));
      if (!m.node_stats.lookup(key, NodeStatsLayout.size)) this.write("node_stats", key, NodeStatsLayout.encode({ cgroup: 0n, binds: 0n }));
    }
    const fresh = new Set([...c.nodes.keys()].filter((n) => !this.nodeStats(n)?.binds));
    for (const path of bindablePaths(c, childCgroups)) {
      const id = cgroupIdAt(path);
      const b = id === null ? null : bindingFor(c, path);
      if (id === null || !b) continue;
      this.write("bound", BoundKeyLayout.encode({ cgroup: id, epoch: c.epoch }), BindingLayout.encode({ ...b }));
      // A node named for the first time counts the cgroups it binds from the start.
      for (const n of [b.exact, b.matched]) {
        if (!n || !fresh.has(n)) continue;
        const st = this.nodeStats(n) ?? { cgroup: 0n, binds: 0n };
        this.write("node_stats", u64Key(nodeBase(n)), NodeStatsLayout.encode({ cgroup: id, binds: st.binds + 1n }));
      }
    }
    for (const [node, lock] of c.locks) this.write("locks", u64Key(node), LockLayout.encode(lock));
    for (const s of c.selectors) this.write("selectors", SelectorKeyLayout.encode(s), u64Key(s.bits));
    for (const g of c.gates.values()) this.write("gates", GateKeyLayout.encode({ anchor: g.anchor, kind: RuleKind[g.kind] }), GateLayout.encode(g.gate));
  }

  /** One element write puts the new epoch and the new settings in force together; then waits out the old epoch's readers. */
  private flip(s: SettingsValue, next: number, nextId: number, desired: PolicySpec): void {
    this.state.writeSettings({
      ...s,
      epoch: next,
      next_rule_id: nextId,
      generation: s.generation + 1n,
      global_mode: Mode[desired.globalMode],
      record_all: desired.recordAll ? 1 : 0,
    });
    this.state.maps.grace.update(u32Key(0), u32Key(this.state.maps.grace_slot.fd));
  }

  /** Deletes everything an epoch holds. Paths and templates go first, so mkdir stops binding under it before `bound` is swept. */
  private sweep(epoch: number): void {
    const m = this.state.maps;
    const drop = (map: typeof m.rules, keySize: number, belongs: (k: Buffer) => boolean) => {
      for (const k of [...map.keys(keySize)].filter(belongs)) map.delete(k);
    };
    drop(m.paths, PathKeyLayout.size, (k) => k.readUInt32LE(0) === epoch);
    drop(m.templates, 8, (k) => nodeEpoch(k.readBigUInt64LE(0)) === epoch);
    drop(m.bound, BoundKeyLayout.size, (k) => k.readUInt32LE(8) === epoch);
    drop(m.gates, GateKeyLayout.size, (k) => nodeEpoch(k.readBigUInt64LE(0)) === epoch);
    drop(m.selectors, SelectorKeyLayout.size, (k) => nodeEpoch(k.readBigUInt64LE(0)) === epoch);
    drop(m.locks, 8, (k) => nodeEpoch(k.readBigUInt64LE(0)) === epoch);
    drop(m.rules, 4, (k) => (k.readUInt32LE(0) & EPOCH_KEY_BIT ? 1 : 0) === epoch);
  }

  private pruneStats(c: Compiled): void {
    const keep = new Set([...c.nodes.keys()].map(nodeBase));
    for (const k of [...this.state.maps.node_stats.keys(8)]) if (!keep.has(k.readBigUInt64LE(0))) this.state.maps.node_stats.delete(k);
  }

  /** Records for the rules of a compiled epoch; ids, creation times and bind counts carry over from `previous`. */
  private recordsFor(rules: IdentifiedRule[], c: Compiled, previous: Map<number, RuleValue>, dryRun: boolean): RuleValue[] {
    const now = BigInt(Date.now()) * 1_000_000n;
    const boundNow = rules.some(({ id }) => !previous.has(id)) && !dryRun ? this.boundCounts(c.epoch) : new Map<bigint, number>();
    return rules
      .map(({ id, spec }) => {
        const node = nodeOf(spec.path, c.epoch);
        const old = previous.get(id);
        // A new rule counts binds from now on: what its path saw before is not its history.
        const base = old ? old.binds_base : dryRun ? 0n : (this.nodeStats(node)?.binds ?? 0n) - BigInt(boundNow.get(node) ?? 0);
        return recordOf(id, spec, c, node, old?.created_ns ?? now, base);
      })
      .sort((a, b) => a.id - b.id);
  }

  /** How many live cgroups each node of an epoch is bound to. */
  private boundCounts(epoch: number): Map<bigint, number> {
    const live = liveCgroupIds();
    const out = new Map<bigint, number>();
    for (const [k, v] of this.state.maps.bound.entries(BoundKeyLayout.size, BindingLayout.size)) {
      if (k.readUInt32LE(8) !== epoch || !live.has(k.readBigUInt64LE(0))) continue;
      const b = BindingLayout.decode(v);
      for (const n of [b.exact, b.matched]) if (n) out.set(n, (out.get(n) ?? 0) + 1);
    }
    return out;
  }

  private write(name: keyof PinnedState["maps"], key: Buffer, value: Buffer): void {
    try {
      this.state.maps[name].update(key, value);
    } catch (e) {
      if (e instanceof BpfError && e.errno === E2BIG)
        throw new CliError(`the ${name} map is full; nothing was changed. Reload with larger capacities: cgwarden unload && cgwarden load --max-locks N --max-rules N`);
      throw e;
    }
  }
}

const ruleKey = (id: number, epoch: number) => (epoch ? id | EPOCH_KEY_BIT : id) >>> 0;

function recordOf(id: number, spec: RuleSpec, c: Compiled, node: bigint, created: bigint, bindsBase: bigint): RuleValue {
  const s = spec.kind === "lock" ? {} : spec.selectors;
  const has = (k: keyof typeof Selector) => s[k] !== undefined;
  const selNode = s.cgroup !== undefined ? nodeOf(s.cgroup, c.epoch) : 0n;
  return {
    id,
    kind: RuleKind[spec.kind],
    directions: spec.kind === "lock" ? spec.directions : 0,
    mode: spec.kind === "lock" ? Mode[spec.mode] : 0,
    slot: c.slots.get(id) ?? 0,
    node,
    selectors: (["pid", "exe", "uid", "cgroup"] as const).reduce((m, k) => (has(k) ? m | (1 << Selector[k]) : m), 0),
    uid: s.uid ?? 0,
    pid: s.pid?.tgid ?? 0,
    pad: 0,
    pid_start: s.pid?.startTicks ?? 0n,
    exe_dev: s.exe?.dev ?? 0n,
    exe_ino: s.exe?.ino ?? 0n,
    sel_node: selNode,
    created_ns: created,
    binds_base: bindsBase < 0n ? 0n : bindsBase,
    cgroup_path: spec.path,
    exe_path: s.exe?.path ?? "",
    sel_cgroup_path: s.cgroup ?? "",
  };
}

/** A record as the spec it was made from. */
export function specOfRecord(r: RuleValue): RuleSpec {
  const kind = ruleKindName(r.kind);
  if (kind === "lock" || !kind) return { kind: "lock", path: r.cgroup_path, directions: r.directions, mode: modeName(r.mode) };
  const has = (k: keyof typeof Selector) => (r.selectors & (1 << Selector[k])) !== 0;
  return {
    kind,
    path: r.cgroup_path,
    selectors: {
      ...(has("exe") ? { exe: { path: r.exe_path, dev: r.exe_dev, ino: r.exe_ino } } : {}),
      ...(has("uid") ? { uid: r.uid } : {}),
      ...(has("cgroup") ? { cgroup: r.sel_cgroup_path } : {}),
      ...(has("pid") ? { pid: { tgid: r.pid, startTicks: r.pid_start } } : {}),
    },
  };
}

// ---- the cgroup tree, as the bound scan sees it ---------------------------

function fsPathOf(path: string): string {
  return path === "/" ? cgroupMount() : join(cgroupMount(), path);
}

function cgroupIdAt(path: string): bigint | null {
  try {
    const st = statSync(fsPathOf(path), { bigint: true });
    return st.isDirectory() ? st.ino : null;
  } catch {
    return null;
  }
}

function childCgroups(dir: string): string[] {
  let entries: Dirent[];
  try {
    entries = readdirSync(fsPathOf(dir), { withFileTypes: true });
  } catch {
    return [];
  }
  return entries.filter((e) => e.isDirectory()).map((e) => e.name);
}

/** Ids of the cgroups that exist: a bound entry outlives its cgroup when the cgroup went between a scan and its write. */
function liveCgroupIds(): Set<bigint> {
  const ids = new Set<bigint>();
  const visit = (fs: string) => {
    try {
      ids.add(statSync(fs, { bigint: true }).ino);
      for (const e of readdirSync(fs, { withFileTypes: true })) if (e.isDirectory()) visit(join(fs, e.name));
    } catch {
      // removed while walking
    }
  };
  visit(cgroupMount());
  return ids;
}
