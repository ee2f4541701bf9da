// Reads and replaces the policy in the pinned maps.
//
// The maps hold two epochs; settings.epoch names the one in force. A change
// never edits the policy in force: it writes the whole new policy under the
// other epoch, flips settings.epoch (one element write, together with the
// global settings), waits until no decision can still be reading the old
// epoch (the grace map, see bpf/maps.bpf.h), and then deletes the old
// epoch. Every decision therefore judges one policy, old or new, whole; a
// change that is killed midway leaves the policy in force untouched, and its
// leftovers in the other epoch are swept by the next change.
import { BpfError, Errno, type MapFd } from "../libbpf/index.ts";
import { CliError } from "../errors.ts";
import type { PinnedState } from "./state.ts";
import type { BindState } from "../policy/describe.ts";
import {
  BindingLayout,
  BoundKeyLayout,
  GATE_SLOTS,
  GateKeyLayout,
  GateLayout,
  LockLayout,
  Mode,
  NodeStatsLayout,
  PATH_LEN,
  PathKeyLayout,
  PathLayout,
  RuleKind,
  RuleLayout,
  SelectorKeyLayout,
  TEMPLATE_SET_SIZE,
  encodeTemplateSet,
  modeName,
  ruleKindName,
  type BindingValue,
  type RuleValue,
  type NodeStatsValue,
  type SettingsValue,
} from "../object/abi.ts";
import { u32Key, u64Key } from "../object/struct.ts";
import { cgroupIdAtPath as cgroupIdAt, childCgroupNames as childCgroups, liveCgroupIds } from "../kernel/cgroupfs.ts";
import { boundLevels, compile, type Compiled } from "../policy/compile.ts";
import type { GateRule, LockRule, Policy } from "../policy/model.ts";
import { nodeBase, nodeEpoch, nodeOf } from "../policy/paths.ts";
import { selectorRecord, selectorsOf, specSelectorsOf } from "../policy/selectors.ts";
import { diffIsEmpty, diffSpecs, identity, type IdentifiedRule, type PolicySpec, type RuleSpec, type SpecDiff } from "../policy/spec.ts";

const EPOCH_KEY_BIT = 0x80000000;

export interface ReplaceResult {
  changed: boolean;
  diff: SpecDiff;
  /** The records of the policy now in force (after a dry run: the one that would be). */
  records: RuleValue[];
}

/**
 * Where a change comes from, kept beside the policy it puts in force.
 * origin: initramfs, unit or command; by: the command; file and its sha256: apply's.
 */
export interface Provenance {
  origin: string;
  by: string;
  file: string;
  sha256: string;
}

/** How a rule's path is bound right now. */

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
    for (const [k, v] of this.state.maps.rules.readAll(4, RuleLayout.size)) {
      if ((k.readUInt32LE(0) & EPOCH_KEY_BIT ? 1 : 0) === epoch) out.push(RuleLayout.decode(v));
    }
    return out.sort((a, b) => a.id - b.id);
  }

  /** The spec in force: what `export` writes and every change starts from. */
  spec(): PolicySpec {
    const s = this.state.settings();
    return { globalMode: modeName(s.global_mode), recordAll: s.record_all !== 0, rules: this.records().map(specOfRecord) };
  }

  identified(): IdentifiedRule[] {
    return this.records().map((r) => ({ id: r.id, spec: specOfRecord(r) }));
  }

  /** The policy as the kernel sees it: what the maps of the epoch in force hold. */
  livePolicy(): Policy {
    const settings = this.state.settings();
    const epoch = settings.epoch & 1;
    const locks = new Map<bigint, LockRule>();
    for (const [k, v] of this.state.maps.locks.readAll(8, LockLayout.size)) {
      const node = k.readBigUInt64LE(0);
      if (nodeEpoch(node) !== epoch) continue;
      const l = LockLayout.decode(v);
      locks.set(node, { id: l.rule_id, node, directions: l.directions, mode: modeName(l.mode) });
    }
    const records = new Map(this.records().map((r) => [r.id, r]));
    const gates: GateRule[] = [];
    for (const [k, v] of this.state.maps.gates.readAll(GateKeyLayout.size, GateLayout.size)) {
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
    const bound = this.boundCgroups(epoch);
    const nodePaths = new Map<bigint, string>();
    for (const r of records.values()) {
      nodePaths.set(r.node, r.cgroup_path);
      if (r.sel_node) nodePaths.set(r.sel_node, r.sel_cgroup_path);
    }
    return { globalMode: modeName(settings.global_mode), locks, gates, bound, nodePaths };
  }

  /**
   * What each cgroup carries under `epoch`, as the kernel's `bound` map
   * holds it. A sealed policy lets only managers open that map; anyone else
   * gets the same answer from paths and templates over the live cgroup tree,
   * which is what userspace and the mkdir tracepoint write there.
   */
  private boundCgroups(epoch: number): Map<bigint, BindingValue> {
    const bound = new Map<bigint, BindingValue>();
    if (this.state.hidden.has("bound")) {
      const c = compile(this.records().map((r) => ({ id: r.id, spec: specOfRecord(r) })), epoch);
      for (const level of boundLevels(c, childCgroups))
        for (const { path, binding } of level) {
          const id = cgroupIdAt(path);
          if (id !== null) bound.set(id, binding);
        }
      return bound;
    }
    for (const [k, v] of this.state.maps.bound.readAll(BoundKeyLayout.size, BindingLayout.size)) {
      const key = BoundKeyLayout.decode(k);
      if (key.epoch === epoch) bound.set(key.cgroup, BindingLayout.decode(v));
    }
    return bound;
  }

  /** Where each record's path is bound now; one pass over `bound` for all of them. */
  bindStates(records: RuleValue[]): Map<number, BindState> {
    const epoch = this.epoch();
    const byNode = new Map<bigint, bigint[]>();
    for (const [cgroup, b] of this.boundCgroups(epoch))
      for (const n of [b.exact, b.matched]) if (n) byNode.set(n, [...(byNode.get(n) ?? []), cgroup]);
    const out = new Map<number, BindState>();
    const live = liveCgroupIds();
    const allStats = this.allNodeStats();
    const boundTo = (node: bigint) => (byNode.get(node) ?? []).filter((id) => live.has(id)).sort((a, b) => (a < b ? -1 : 1));
    for (const r of records) {
      const cgroups = boundTo(r.node);
      const stats = allStats.get(nodeBase(r.node));
      const state: BindState = { state: cgroups.length ? "bound" : "waiting", cgroups, binds: Number((stats?.binds ?? 0n) - r.binds_base) };
      if (r.sel_node) {
        const selected = boundTo(r.sel_node);
        state.selector = { state: selected.length ? "bound" : "waiting", cgroups: selected };
      }
      out.set(r.id, state);
    }
    return out;
  }

  // ---- changing ------------------------------------------------------------

  /**
   * Makes the policy in force equal `desired`, atomically, or changes
   * nothing (and says so) when it already is. With dryRun, only computes.
   */
  replace(desired: PolicySpec, dryRun = false, provenance?: Provenance): ReplaceResult {
    const s = this.state.settings();
    const active = s.epoch & 1;
    const next = 1 - active;
    const before = this.records();
    const current = before.map((r) => ({ id: r.id, spec: specOfRecord(r) }));
    const diff = diffSpecs({ settings: { globalMode: modeName(s.global_mode), recordAll: s.record_all !== 0 }, rules: current }, desired);
    if (diffIsEmpty(diff)) {
      if (s.stale && !dryRun) this.finish(next, compile(current, active));
      if (!dryRun) this.refreshSources(before, desired, active);
      return { changed: false, diff, records: before };
    }

    let nextId = s.next_rule_id || 1;
    const added = diff.added.map((spec) => ({ id: nextId++, spec }));
    const rules: IdentifiedRule[] = [...diff.unchanged, ...diff.updated, ...added];
    const compiled = compile(rules, next);
    const previous = new Map(before.map((r) => [r.id, r]));
    if (dryRun) return { changed: true, diff, records: this.recordsFor(rules, compiled, previous, null) };

    this.state.writeSettings({ ...s, stale: 1 });
    this.sweep(next);
    try {
      const stats = this.allNodeStats();
      const boundNow = this.writeEpoch(compiled, stats);
      const records = this.recordsFor(rules, compiled, previous, { stats, boundNow });
      this.writeAll("rules", records.map((r) => [u32Key(ruleKey(r.id, next)), RuleLayout.encode(r)]));
      this.flip(s, next, nextId, desired, provenance);
      this.finish(active, compiled);
      return { changed: true, diff, records };
    } catch (e) {
      // Nothing in force changed; leave the other epoch clean for the next change.
      if ((this.state.settings().epoch & 1) !== next) {
        this.sweep(next);
        this.state.writeSettings({ ...this.state.settings(), stale: 0 });
      }
      throw e;
    }
  }

  /**
   * A policy that is already in force, read from other files (a rule moved
   * from policy.toml into a drop-in): only the records' sources change. The
   * records are userspace's bookkeeping (no program reads them), so they are
   * rewritten in place, and the policy in force is unchanged.
   */
  private refreshSources(records: RuleValue[], desired: PolicySpec, epoch: number): void {
    const wanted = new Map(desired.rules.map((r) => [identity(r), r]));
    const stale = records.flatMap((rec) => {
      const spec = wanted.get(identity(specOfRecord(rec)));
      if (!spec?.source) return [];
      const fields = sourceFields(spec, rec);
      return fields.source === rec.source && fields.source_line === rec.source_line ? [] : [{ ...rec, ...fields }];
    });
    if (stale.length) this.writeAll("rules", stale.map((r) => [u32Key(ruleKey(r.id, epoch)), RuleLayout.encode(r)]));
  }

  /** Sweeps the epoch not in force and the stats of nodes no longer named, then clears `stale`. */
  private finish(inactive: number, inForce: Compiled): void {
    this.sweep(inactive);
    this.pruneStats(inForce, this.allNodeStats());
    this.state.writeSettings({ ...this.state.settings(), stale: 0 });
  }

  private allNodeStats(): Map<bigint, NodeStatsValue> {
    const out = new Map<bigint, NodeStatsValue>();
    for (const [k, v] of this.state.maps.node_stats.readAll(8, NodeStatsLayout.size)) out.set(k.readBigUInt64LE(0), NodeStatsLayout.decode(v));
    return out;
  }

  /**
   * Writes one epoch's maps, in an order that leaves no cgroup unbound:
   * 1. paths and templates: from then on cgwarden_mkdir() binds a new cgroup
   *    at a named path under this epoch too;
   * 2. the bindings, one level of the tree at a time from the root
   *    (compile.ts boundLevels): a level's named paths and the children of
   *    the level above that template sets reach. A directory is listed only
   *    after its own binding is written: from then on cgwarden_mkdir() binds
   *    every new child of it (it reads the parent's binding for the epoch),
   *    and every child created before is in the listing.
   * Returns how many live cgroups each node binds.
   */
  private writeEpoch(c: Compiled, stats: Map<bigint, NodeStatsValue>): Map<bigint, number> {
    this.writeAll("paths", [...c.paths].map(([path, v]) => [PathKeyLayout.encode({ epoch: c.epoch, path }), PathLayout.encode({ ...v })]));
    this.writeAll("templates", [...c.templateSets].map(([id, ts]) => [u64Key(id), encodeTemplateSet(ts.map((t) => t.value))]));
    const fresh = new Set([...c.nodes.keys()].map(nodeBase).filter((n) => !stats.get(n)?.binds));
    this.writeAll("node_stats", [...fresh].filter((n) => !stats.has(n)).map((n) => [u64Key(n), NodeStatsLayout.encode({ cgroup: 0n, binds: 0n })]));
    const boundNow = new Map<bigint, number>();
    const firstCounts = new Map<bigint, NodeStatsValue>();
    for (const level of boundLevels(c, childCgroups)) {
      const bound: Array<[Buffer, Buffer]> = [];
      for (const { path, binding: b } of level) {
        const id = cgroupIdAt(path);
        if (id === null) continue;
        bound.push([BoundKeyLayout.encode({ cgroup: id, epoch: c.epoch }), BindingLayout.encode({ ...b })]);
        for (const n of [b.exact, b.matched]) {
          if (!n) continue;
          boundNow.set(n, (boundNow.get(n) ?? 0) + 1);
          // A node named for the first time counts the cgroups it binds from the start.
          if (fresh.has(nodeBase(n))) firstCounts.set(nodeBase(n), { cgroup: id, binds: (firstCounts.get(nodeBase(n))?.binds ?? 0n) + 1n });
        }
      }
      this.writeAll("bound", bound);
    }
    this.writeAll("node_stats", [...firstCounts].map(([n, v]) => [u64Key(n), NodeStatsLayout.encode(v)]));
    for (const [n, v] of firstCounts) stats.set(n, v);
    this.writeAll("locks", [...c.locks].map(([node, lock]) => [u64Key(node), LockLayout.encode(lock)]));
    this.writeAll("selectors", c.selectors.map((sel) => [SelectorKeyLayout.encode(sel), u64Key(sel.bits)]));
    this.writeAll("gates", [...c.gates.values()].map((g) => [GateKeyLayout.encode({ anchor: g.anchor, kind: RuleKind[g.kind] }), GateLayout.encode(g.gate)]));
    return boundNow;
  }

  /** One element write puts the new epoch and the new settings in force together; then waits out the old epoch's readers. */
  private flip(s: SettingsValue, next: number, nextId: number, desired: PolicySpec, provenance?: Provenance): void {
    this.state.writeSettings({
      ...s,
      ...(provenance
        ? { applied_ns: BigInt(Date.now()) * 1_000_000n, applied_origin: provenance.origin, applied_by: provenance.by, applied_file: provenance.file, applied_sha256: provenance.sha256 }
        : {}),
      epoch: next,
      stale: 1,
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
    const drop = (map: MapFd, keySize: number, valueSize: number, belongs: (k: Buffer) => boolean) =>
      map.deleteMany(map.readAll(keySize, valueSize).map(([k]) => k).filter(belongs));
    drop(m.paths, PathKeyLayout.size, PathLayout.size, (k) => k.readUInt32LE(0) === epoch);
    drop(m.templates, 8, TEMPLATE_SET_SIZE, (k) => nodeEpoch(k.readBigUInt64LE(0)) === epoch);
    drop(m.bound, BoundKeyLayout.size, BindingLayout.size, (k) => k.readUInt32LE(8) === epoch);
    drop(m.gates, GateKeyLayout.size, GateLayout.size, (k) => nodeEpoch(k.readBigUInt64LE(0)) === epoch);
    drop(m.selectors, SelectorKeyLayout.size, 8, (k) => nodeEpoch(k.readBigUInt64LE(0)) === epoch);
    drop(m.locks, 8, LockLayout.size, (k) => nodeEpoch(k.readBigUInt64LE(0)) === epoch);
    drop(m.rules, 4, RuleLayout.size, (k) => (k.readUInt32LE(0) & EPOCH_KEY_BIT ? 1 : 0) === epoch);
  }

  private pruneStats(c: Compiled, stats: Map<bigint, unknown>): void {
    const keep = new Set([...c.nodes.keys()].map(nodeBase));
    this.state.maps.node_stats.deleteMany([...stats.keys()].filter((n) => !keep.has(n)).map(u64Key));
  }

  /** Records for the rules of a compiled epoch; ids, creation times and bind counts carry over from `previous`. */
  private recordsFor(
    rules: IdentifiedRule[],
    c: Compiled,
    previous: Map<number, RuleValue>,
    bindings: { stats: Map<bigint, NodeStatsValue>; boundNow: Map<bigint, number> } | null,
  ): RuleValue[] {
    const now = BigInt(Date.now()) * 1_000_000n;
    return rules
      .map(({ id, spec }) => {
        const node = nodeOf(spec.path, c.epoch);
        const old = previous.get(id);
        // A new rule counts binds from now on: what its path saw before is not its history.
        const base = old ? old.binds_base : bindings ? (bindings.stats.get(nodeBase(node))?.binds ?? 0n) - BigInt(bindings.boundNow.get(node) ?? 0) : 0n;
        return recordOf(id, spec, c, node, old?.created_ns ?? now, base, old);
      })
      .sort((a, b) => a.id - b.id);
  }

  private writeAll(name: keyof PinnedState["maps"], entries: Array<[Buffer, Buffer]>): void {
    try {
      this.state.maps[name].updateMany(entries);
    } catch (e) {
      if (e instanceof BpfError && e.errno === Errno.E2BIG)
        throw new CliError({ problem: `the ${name} map is full`, fix: `nothing was changed. Reload with larger capacities: cgwarden unload && cgwarden load --max-locks N --max-rules N` });
      throw e;
    }
  }
}

const ruleKey = (id: number, epoch: number) => (epoch ? id | EPOCH_KEY_BIT : id) >>> 0;

/**
 * Where a rule was stated, as its record keeps it: the spec's source, else
 * the record's own (a file read from standard input, `export | apply -`,
 * says nothing about where rules came from, so it keeps what was known).
 */
function sourceFields(spec: RuleSpec, old?: RuleValue): Pick<RuleValue, "source" | "source_line"> {
  if (!spec.source) return { source: old?.source ?? "", source_line: old?.source_line ?? 0 };
  return { source: lastBytes(spec.source.file, PATH_LEN - 1), source_line: spec.source.line };
}

/** The end of `s` in at most `max` UTF-8 bytes, whole characters only, marked with "..." when cut: a file's name ends in what tells it apart. */
function lastBytes(s: string, max: number): string {
  if (Buffer.byteLength(s) <= max) return s;
  let tail = "";
  for (const ch of [...s].reverse()) {
    if (Buffer.byteLength(ch + tail) > max - 3) break;
    tail = ch + tail;
  }
  return `...${tail}`;
}

function recordOf(id: number, spec: RuleSpec, c: Compiled, node: bigint, created: bigint, bindsBase: bigint, old?: RuleValue): RuleValue {
  const s = spec.kind === "lock" ? {} : spec.selectors;
  return {
    id,
    kind: RuleKind[spec.kind],
    directions: spec.kind === "lock" ? spec.directions : 0,
    mode: spec.kind === "lock" ? Mode[spec.mode] : 0,
    slot: c.slots.get(id) ?? 0,
    node,
    uid: 0,
    pid: 0,
    ...sourceFields(spec, old),
    pid_start: 0n,
    exe_dev: 0n,
    exe_ino: 0n,
    sel_node: 0n,
    exe_path: "",
    sel_cgroup_path: "",
    // The selector bits and the fields of the selectors present; the rest stay zero.
    ...selectorRecord(s, (path) => nodeOf(path, c.epoch)),
    created_ns: created,
    binds_base: bindsBase < 0n ? 0n : bindsBase,
    cgroup_path: spec.path,
  };
}

/** A record as the spec it was made from. */
export function specOfRecord(r: RuleValue): RuleSpec {
  const kind = ruleKindName(r.kind);
  const source = r.source ? { source: { file: r.source, line: r.source_line } } : {};
  if (kind === "lock" || !kind) return { kind: "lock", path: r.cgroup_path, directions: r.directions, mode: modeName(r.mode), ...source };
  return { kind, path: r.cgroup_path, ...source, selectors: specSelectorsOf(r) };
}
