// Reads and changes the policy in the pinned maps.
//
// Every change is ordered so that the kernel never sees a half-written rule:
// a gate rule is reserved in its gate, its selector bits are written, and
// only then is its slot made live (one atomic map update); removal runs the
// same steps backwards. A step that fails undoes the steps before it. A crash
// between steps leaves the slot reserved but not live, which denies nothing
// new and is completed by re-running the same command.
import { BpfError } from "../libbpf/index.ts";
import { CliError } from "../errors.ts";
import type { PinnedState } from "../pins/state.ts";
import {
  GATE_SLOTS,
  GateKeyLayout,
  GateLayout,
  LockLayout,
  Mode,
  RuleKind,
  RuleLayout,
  Selector,
  SelectorKeyLayout,
  type GateValue,
  modeName,
  type ModeName,
  type RuleValue,
} from "../object/abi.ts";
import { u32Key, u64Key } from "../object/struct.ts";
import type { GateRule, LockRule, Policy } from "./model.ts";
import type { SelectorLabels } from "./selector-args.ts";
import { sameSelectors, selectorKeys, selectorKinds, selectorsOf, type Selectors } from "./selectors.ts";

const E2BIG = 7;
export interface Anchor {
  id: bigint;
  path: string;
}

export interface ChangeResult {
  changed: boolean;
  rule: RuleValue;
  /** What happened, in words, for the one line a command prints. */
  action: "created" | "updated" | "unchanged" | "completed" | "removed";
}

type GateKind = "allow" | "delegate";

export class PolicyStore {
  private undo: Array<() => void> = [];

  constructor(private readonly state: PinnedState) {}

  // ---- reading ----------------------------------------------------------

  rule(id: number): RuleValue | null {
    const raw = this.state.maps.rules.lookup(u32Key(id), RuleLayout.size);
    return raw ? RuleLayout.decode(raw) : null;
  }

  rules(): RuleValue[] {
    const out: RuleValue[] = [];
    for (const [, v] of this.state.maps.rules.entries(4, RuleLayout.size)) out.push(RuleLayout.decode(v));
    return out.sort((a, b) => a.id - b.id);
  }

  lockAt(cgroup: bigint): { rule_id: number; directions: number; mode: number } | null {
    const raw = this.state.maps.locks.lookup(u64Key(cgroup), LockLayout.size);
    return raw ? LockLayout.decode(raw) : null;
  }

  gate(anchor: bigint, kind: GateKind): GateValue | null {
    const raw = this.state.maps.gates.lookup(GateKeyLayout.encode({ anchor, kind: RuleKind[kind] }), GateLayout.size);
    return raw ? GateLayout.decode(raw) : null;
  }

  /** The policy as the kernel sees it: live locks and live gate slots only. */
  livePolicy(): Policy {
    const settings = this.state.settings();
    const locks = new Map<bigint, LockRule>();
    for (const [k, v] of this.state.maps.locks.entries(8, LockLayout.size)) {
      const cgroup = k.readBigUInt64LE(0);
      const l = LockLayout.decode(v);
      locks.set(cgroup, { id: l.rule_id, cgroup, directions: l.directions, mode: modeName(l.mode) });
    }
    const gates: GateRule[] = [];
    for (const [k, v] of this.state.maps.gates.entries(GateKeyLayout.size, GateLayout.size)) {
      const key = GateKeyLayout.decode(k);
      const g = GateLayout.decode(v);
      const kind: GateKind = key.kind === RuleKind.delegate ? "delegate" : "allow";
      for (let slot = 0; slot < GATE_SLOTS; slot++) {
        if (!(g.live & (1n << BigInt(slot)))) continue;
        const rec = this.rule(g.rule_id[slot]!);
        if (rec) gates.push({ id: rec.id, kind, anchor: key.anchor, slot, selectors: selectorsOf(rec) });
      }
    }
    return { globalMode: modeName(settings.global_mode), locks, gates };
  }

  // ---- locks -------------------------------------------------------------

  setLock(anchor: Anchor, directions: number, mode: ModeName): ChangeResult {
    const current = this.lockAt(anchor.id);
    // An interrupted lock left its record without the lock element: finish that one, never start a second.
    const existing = current ? this.rule(current.rule_id) : this.orphans(RuleKind.lock, anchor.id)[0] ?? null;
    const inForce = !!current && current.directions === directions && current.mode === Mode[mode];
    if (inForce && existing && existing.id === current.rule_id && existing.directions === directions && existing.mode === Mode[mode])
      return { changed: false, rule: existing, action: "unchanged" };

    return this.transaction(() => {
      const rule: RuleValue = existing
        ? { ...existing, directions, mode: Mode[mode] }
        : current
          ? this.recordFor(current.rule_id, "lock", anchor, { directions, mode: Mode[mode] })
          : this.newRule("lock", anchor, { directions, mode: Mode[mode] });
      this.putRule(rule, existing);
      this.write(
        this.state.maps.locks,
        u64Key(anchor.id),
        LockLayout.encode({ rule_id: rule.id, directions, mode: Mode[mode] }),
        current ? LockLayout.encode(current) : null,
        "locks",
      );
      const action = !existing ? "created" : inForce || !current ? "completed" : "updated";
      return { changed: true, rule, action };
    });
  }

  // ---- allow and delegate -----------------------------------------------

  addGateRule(kind: GateKind, anchor: Anchor, selectors: Selectors, labels: SelectorLabels): ChangeResult {
    const gate = this.gate(anchor.id, kind) ?? emptyGate();
    for (let slot = 0; slot < GATE_SLOTS; slot++) {
      const id = gate.rule_id[slot]!;
      if (!id) continue;
      const rec = this.rule(id);
      if (!rec || !sameSelectors(selectorsOf(rec), selectors)) continue;
      if (gate.live & bit(slot)) return { changed: false, rule: rec, action: "unchanged" };
      return this.transaction(() => {
        this.publish(kind, anchor.id, rec, selectors);
        return { changed: true, rule: rec, action: "completed" };
      });
    }
    const free = (s: number) => gate.rule_id[s] === 0 && !(gate.live & bit(s));
    // A record written before its gate reservation (the change was interrupted there) is completed, not duplicated.
    const orphan = this.orphans(RuleKind[kind], anchor.id).find((r) => sameSelectors(selectorsOf(r), selectors));
    const slot = orphan && free(orphan.slot) ? orphan.slot : gate.rule_id.findIndex((_, s) => free(s));
    if (slot < 0)
      throw new CliError(`the ${kind} list of ${anchor.path} is full (${GATE_SLOTS} rules); remove one with 'cgwarden remove ID' or widen an existing rule`);

    return this.transaction(() => {
      let rule: RuleValue;
      if (orphan) {
        rule = { ...orphan, slot };
        if (slot !== orphan.slot) this.putRule(rule, orphan);
      } else {
        rule = this.newRule(kind, anchor, { slot, labels, selectors });
        this.putRule(rule, null);
      }
      this.publish(kind, anchor.id, rule, selectors);
      return { changed: true, rule, action: orphan ? "completed" : "created" };
    });
  }

  /**
   * Records of `kind` at `anchor` that no live map element names: what a
   * change interrupted between writing the record and reserving its place.
   */
  orphans(kind: number, anchor: bigint): RuleValue[] {
    // Without an interrupted change there are none, and scanning every record per change would make N changes O(N²).
    if (!this.state.settings().interrupted) return [];
    return this.rules().filter((r) => r.kind === kind && r.cgroup_id === anchor && !this.placed(r));
  }

  /** Whether the live maps name this record: its lock element, or its slot in its gate (reserved or live). */
  private placed(r: RuleValue): boolean {
    if (r.kind === RuleKind.lock) return this.lockAt(r.cgroup_id)?.rule_id === r.id;
    return this.gate(r.cgroup_id, r.kind === RuleKind.delegate ? "delegate" : "allow")?.rule_id[r.slot] === r.id;
  }

  /** Reserve the slot, set selector bits, then go live; each step undone if a later one fails. */
  private publish(kind: GateKind, anchor: bigint, rule: RuleValue, selectors: Selectors): void {
    const gateKey = GateKeyLayout.encode({ anchor, kind: RuleKind[kind] });
    const before = this.gate(anchor, kind);
    const reserved = before ? { ...before, need: [...before.need], rule_id: [...before.rule_id] } : emptyGate();
    const b = bit(rule.slot);
    reserved.rule_id[rule.slot] = rule.id;
    const kinds = new Set<number>(selectorKinds(selectors).map((k) => Selector[k]));
    reserved.need = reserved.need.map((n, k) => (kinds.has(k) ? n | b : n & ~b));
    this.write(this.state.maps.gates, gateKey, GateLayout.encode(reserved), before ? GateLayout.encode(before) : null, "gates");

    for (const key of selectorKeys(kind, anchor, selectors)) {
      const k = SelectorKeyLayout.encode(key);
      const prev = this.state.maps.selectors.lookup(k, 8);
      const bits = (prev ? prev.readBigUInt64LE(0) : 0n) | b;
      this.write(this.state.maps.selectors, k, u64Key(bits), prev, "selectors");
    }

    const live = { ...reserved, live: reserved.live | b };
    this.write(this.state.maps.gates, gateKey, GateLayout.encode(live), GateLayout.encode(reserved), "gates");
  }

  // ---- removal -------------------------------------------------------------

  removeRule(id: number): ChangeResult | null {
    const rule = this.rule(id);
    if (!rule) return null;
    return this.transaction(() => {
      if (rule.kind === RuleKind.lock) {
        const lock = this.lockAt(rule.cgroup_id);
        if (lock && lock.rule_id === rule.id) this.state.maps.locks.delete(u64Key(rule.cgroup_id));
      } else {
        this.retract(rule.kind === RuleKind.delegate ? "delegate" : "allow", rule);
      }
      this.state.maps.rules.delete(u32Key(rule.id));
      return { changed: true, rule, action: "removed" };
    });
  }

  /** Removes the lock at `anchor`, and any record an interrupted lock left there. */
  removeLock(anchor: bigint): ChangeResult | null {
    const lock = this.lockAt(anchor);
    const ids = [...(lock ? [lock.rule_id] : []), ...this.orphans(RuleKind.lock, anchor).map((r) => r.id)];
    let result: ChangeResult | null = null;
    for (const id of ids) result = this.removeRule(id) ?? result;
    return result;
  }

  private retract(kind: GateKind, rule: RuleValue): void {
    const gateKey = GateKeyLayout.encode({ anchor: rule.cgroup_id, kind: RuleKind[kind] });
    const gate = this.gate(rule.cgroup_id, kind);
    const b = bit(rule.slot);
    // A record that never reached its gate owns no selector bits: the slot may be another rule's.
    if (!gate || gate.rule_id[rule.slot] !== rule.id) return;
    // Tighten first: the slot stops matching before anything else changes.
    this.state.maps.gates.update(gateKey, GateLayout.encode({ ...gate, live: gate.live & ~b }));
    for (const key of selectorKeys(kind, rule.cgroup_id, selectorsOf(rule))) {
      const k = SelectorKeyLayout.encode(key);
      const prev = this.state.maps.selectors.lookup(k, 8);
      if (!prev) continue;
      const bits = prev.readBigUInt64LE(0) & ~b;
      if (bits) this.state.maps.selectors.update(k, u64Key(bits));
      else this.state.maps.selectors.delete(k);
    }
    const next = { live: gate.live & ~b, need: gate.need.map((n) => n & ~b), rule_id: [...gate.rule_id] };
    next.rule_id[rule.slot] = 0;
    if (next.live === 0n && next.rule_id.every((r) => r === 0)) this.state.maps.gates.delete(gateKey);
    else this.state.maps.gates.update(gateKey, GateLayout.encode(next));
  }

  // ---- settings ------------------------------------------------------------

  /**
   * One array element holds the settings, so the kernel sees the old global
   * mode or the new, never a mix. Returns the mode that was in force.
   */
  setGlobalMode(mode: ModeName): ModeName {
    const s = this.state.settings();
    const was = modeName(s.global_mode);
    if (was !== mode) this.state.writeSettings({ ...s, global_mode: Mode[mode], generation: s.generation + 1n });
    return was;
  }

  /** Record every decision, or only denials and audit-denials; true when that changed. */
  setRecordAll(on: boolean): boolean {
    const s = this.state.settings();
    const want = on ? 1 : 0;
    if (s.record_all === want) return false;
    this.state.writeSettings({ ...s, record_all: want });
    return true;
  }

  // ---- plumbing ------------------------------------------------------------

  private newRule(
    kind: "lock" | GateKind,
    anchor: Anchor,
    extra: { directions?: number; mode?: number; slot?: number; selectors?: Selectors; labels?: SelectorLabels },
  ): RuleValue {
    const settings = this.state.settings();
    const id = settings.next_rule_id || 1;
    // The id is spent before it is used, so a crash can never hand it out twice.
    this.state.writeSettings({ ...settings, next_rule_id: id + 1 });
    return this.recordFor(id, kind, anchor, extra);
  }

  private recordFor(
    id: number,
    kind: "lock" | GateKind,
    anchor: Anchor,
    extra: { directions?: number; mode?: number; slot?: number; selectors?: Selectors; labels?: SelectorLabels },
  ): RuleValue {
    const s = extra.selectors ?? {};
    return {
      id,
      kind: RuleKind[kind],
      directions: extra.directions ?? 0,
      mode: extra.mode ?? 0,
      slot: extra.slot ?? 0,
      cgroup_id: anchor.id,
      selectors: selectorKinds(s).reduce((m, k) => m | (1 << Selector[k]), 0),
      uid: s.uid ?? 0,
      pid: s.pid?.tgid ?? 0,
      pid_start: s.pid?.startTicks ?? 0n,
      exe_dev: s.exe?.dev ?? 0n,
      exe_ino: s.exe?.ino ?? 0n,
      sel_cgroup_id: s.cgroup ?? 0n,
      created_ns: BigInt(Date.now()) * 1_000_000n,
      cgroup_path: truncatePath(anchor.path),
      exe_path: truncatePath(extra.labels?.exePath ?? ""),
      sel_cgroup_path: truncatePath(extra.labels?.cgroupPath ?? ""),
    };
  }

  private putRule(rule: RuleValue, previous: RuleValue | null): void {
    this.write(this.state.maps.rules, u32Key(rule.id), RuleLayout.encode(rule), previous ? RuleLayout.encode(previous) : null, "rules");
  }

  private write(
    map: PinnedState["maps"]["rules"],
    key: Buffer,
    value: Buffer,
    previous: Buffer | null,
    name: string,
  ): void {
    try {
      map.update(key, value);
    } catch (e) {
      if (e instanceof BpfError && e.errno === E2BIG)
        throw new CliError(`the ${name} map is full; nothing was changed. Reload with larger capacities: cgwarden unload && cgwarden load --max-locks N --max-rules N`);
      throw e;
    }
    this.undo.push(() => (previous ? map.update(key, previous) : map.delete(key)));
  }

  /** True while any record lacks its place in the live maps: one full scan, only after an interrupted change. */
  private anyOrphans(): boolean {
    return this.rules().some((r) => !this.placed(r));
  }

  /**
   * Runs a change; on failure, undoes its writes newest first and rethrows.
   * `interrupted` is set before the first write and cleared with the last
   * (the generation bump), unless an earlier killed change left records to
   * complete: then it stays set until none is left.
   */
  private transaction(fn: () => ChangeResult): ChangeResult {
    this.undo = [];
    const before = this.state.settings();
    if (!before.interrupted) this.state.writeSettings({ ...before, interrupted: 1 });
    try {
      const r = fn();
      const s = this.state.settings();
      const interrupted = before.interrupted && this.anyOrphans() ? 1 : 0;
      this.state.writeSettings({ ...s, generation: s.generation + (r.changed ? 1n : 0n), interrupted });
      return r;
    } catch (e) {
      for (const step of this.undo.reverse()) {
        try {
          step();
        } catch {
          // keep undoing the rest; the original error is what the admin needs
        }
      }
      throw e;
    } finally {
      this.undo = [];
    }
  }
}

const bit = (slot: number) => 1n << BigInt(slot);

function emptyGate(): GateValue {
  return { live: 0n, need: [0n, 0n, 0n, 0n], rule_id: new Array<number>(GATE_SLOTS).fill(0) };
}

function truncatePath(p: string): string {
  const b = Buffer.from(p, "utf8");
  return b.length < 256 ? p : `…${b.subarray(b.length - 250).toString("utf8")}`;
}
