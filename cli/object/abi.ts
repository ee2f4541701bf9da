// TypeScript mirror of bpf/cgwarden.h. test/unit/layout.test.ts compiles the
// header and checks every offset and size below against the C compiler's.
import { defineStruct } from "./struct.ts";

export const ABI_VERSION = 4;
export const MAX_LEVEL = 32;
export const GATE_SLOTS = 64;
export const PATH_LEN = 256;
export const COMM_LEN = 16;
/** The epoch bit of a node id; see bpf/cgwarden.h. */
export const NODE_EPOCH = 1n << 63n;
export const DIR_TEMPLATES = 16;
export const TEMPLATE_PART = 64;

export const Via = { procs: 1, threads: 2, clone: 3, tamper: 4 } as const;
export type ViaName = keyof typeof Via;

export const Direction = { in: 1, out: 2, within: 4 } as const;
export type DirectionName = keyof typeof Direction;
export const ALL_DIRECTIONS = Direction.in | Direction.out | Direction.within;

export const Mode = { enforce: 0, audit: 1 } as const;
export type ModeName = keyof typeof Mode;

export const RuleKind = { lock: 1, allow: 2, delegate: 3 } as const;
export type RuleKindName = keyof typeof RuleKind;

/** The name of a code in one of the enums above; undefined for a code this ABI does not know. */
function decoder<T extends Record<string, number>>(table: T): (code: number) => keyof T | undefined {
  const names = new Map(Object.entries(table).map(([k, v]) => [v, k as keyof T]));
  return (code) => names.get(code);
}

export const viaName = decoder(Via);
export const ruleKindName = decoder(RuleKind);
/** Unknown codes read as enforce: the kernel treats anything but audit as enforce. */
export const modeName = (code: number): ModeName => (code === Mode.audit ? "audit" : "enforce");

export const Selector = { pid: 0, exe: 1, uid: 2, cgroup: 3 } as const;
export type SelectorName = keyof typeof Selector;
export const SELECTOR_KINDS = 4;

export const Verdict = { allow: 0, deny: 1, audit: 2 } as const;
export type VerdictName = keyof typeof Verdict;

export const Stat = { decisions: 0, allowed: 1, denied: 2, audited: 3, dropped: 4, recorded: 5 } as const;
export const STAT_COUNT = 6;

export interface LockValue extends Record<string, number> {
  rule_id: number;
  directions: number;
  mode: number;
}
export const LockLayout = defineStruct<LockValue>("cgw_lock", 8, [
  { name: "rule_id", type: "u32", offset: 0 },
  { name: "directions", type: "u8", offset: 4 },
  { name: "mode", type: "u8", offset: 5 },
]);

export interface GateKey extends Record<string, bigint | number> {
  anchor: bigint;
  kind: number;
}
export const GateKeyLayout = defineStruct<GateKey>("cgw_gate_key", 16, [
  { name: "anchor", type: "u64", offset: 0 },
  { name: "kind", type: "u32", offset: 8 },
]);

export interface GateValue extends Record<string, bigint | bigint[] | number[]> {
  live: bigint;
  need: bigint[];
  rule_id: number[];
}
export const GateLayout = defineStruct<GateValue>("cgw_gate", 296, [
  { name: "live", type: "u64", offset: 0 },
  { name: "need", type: "u64[]", offset: 8, count: SELECTOR_KINDS },
  { name: "rule_id", type: "u32[]", offset: 40, count: GATE_SLOTS },
]);

export interface SelectorKey extends Record<string, bigint | number> {
  anchor: bigint;
  value: bigint;
  value2: bigint;
  kind: number;
  selector: number;
}
export const SelectorKeyLayout = defineStruct<SelectorKey>("cgw_selector_key", 32, [
  { name: "anchor", type: "u64", offset: 0 },
  { name: "value", type: "u64", offset: 8 },
  { name: "value2", type: "u64", offset: 16 },
  { name: "kind", type: "u32", offset: 24 },
  { name: "selector", type: "u32", offset: 28 },
]);

export interface RuleValue extends Record<string, number | bigint | string> {
  id: number;
  kind: number;
  directions: number;
  mode: number;
  slot: number;
  node: bigint;
  selectors: number;
  uid: number;
  pid: number;
  pid_start: bigint;
  exe_dev: bigint;
  exe_ino: bigint;
  sel_node: bigint;
  created_ns: bigint;
  binds_base: bigint;
  cgroup_path: string;
  exe_path: string;
  sel_cgroup_path: string;
}
export const RuleLayout = defineStruct<RuleValue>("cgw_rule", 848, [
  { name: "id", type: "u32", offset: 0 },
  { name: "kind", type: "u8", offset: 4 },
  { name: "directions", type: "u8", offset: 5 },
  { name: "mode", type: "u8", offset: 6 },
  { name: "slot", type: "u8", offset: 7 },
  { name: "node", type: "u64", offset: 8 },
  { name: "selectors", type: "u32", offset: 16 },
  { name: "uid", type: "u32", offset: 20 },
  { name: "pid", type: "u32", offset: 24 },
  { name: "pid_start", type: "u64", offset: 32 },
  { name: "exe_dev", type: "u64", offset: 40 },
  { name: "exe_ino", type: "u64", offset: 48 },
  { name: "sel_node", type: "u64", offset: 56 },
  { name: "created_ns", type: "u64", offset: 64 },
  { name: "binds_base", type: "u64", offset: 72 },
  { name: "cgroup_path", type: "char", offset: 80, count: PATH_LEN },
  { name: "exe_path", type: "char", offset: 336, count: PATH_LEN },
  { name: "sel_cgroup_path", type: "char", offset: 592, count: PATH_LEN },
]);

export interface SettingsValue extends Record<string, number | bigint | string> {
  abi: number;
  mechanism: number;
  global_mode: number;
  record_all: number;
  next_rule_id: number;
  recorder_slots: number;
  generation: bigint;
  version: string;
  object_sha256: string;
  epoch: number;
  stale: number;
  applied_ns: bigint;
  applied_origin: string;
  applied_by: string;
  applied_file: string;
  applied_sha256: string;
}
export const SettingsLayout = defineStruct<SettingsValue>("cgw_settings", 528, [
  { name: "abi", type: "u32", offset: 0 },
  { name: "mechanism", type: "u32", offset: 4 },
  { name: "global_mode", type: "u32", offset: 8 },
  { name: "record_all", type: "u32", offset: 12 },
  { name: "next_rule_id", type: "u32", offset: 16 },
  { name: "recorder_slots", type: "u32", offset: 20 },
  { name: "generation", type: "u64", offset: 24 },
  { name: "version", type: "char", offset: 32, count: 32 },
  { name: "object_sha256", type: "char", offset: 64, count: 72 },
  { name: "epoch", type: "u32", offset: 136 },
  { name: "stale", type: "u32", offset: 140 },
  { name: "applied_ns", type: "u64", offset: 144 },
  { name: "applied_origin", type: "char", offset: 152, count: 16 },
  { name: "applied_by", type: "char", offset: 168, count: 32 },
  { name: "applied_file", type: "char", offset: 200, count: PATH_LEN },
  { name: "applied_sha256", type: "char", offset: 456, count: 72 },
]);

export interface RecordValue extends Record<string, number | bigint | string> {
  seq: bigint;
  time_ns: bigint;
  src_cgroup: bigint;
  dst_cgroup: bigint;
  rule_cgroup: bigint;
  actor_exe_dev: bigint;
  actor_exe_ino: bigint;
  actor_cgroup: bigint;
  actor_start_ticks: bigint;
  object: bigint;
  rule_id: number;
  verdict: number;
  via: number;
  mechanism: number;
  threadgroup: number;
  actor_pid: number;
  actor_tgid: number;
  actor_euid: number;
  task_pid: number;
  task_tgid: number;
  tamper: number;
  actor_comm: string;
  task_comm: string;
}
export const RecordLayout = defineStruct<RecordValue>("cgw_record", 144, [
  { name: "seq", type: "u64", offset: 0 },
  { name: "time_ns", type: "u64", offset: 8 },
  { name: "src_cgroup", type: "u64", offset: 16 },
  { name: "dst_cgroup", type: "u64", offset: 24 },
  { name: "rule_cgroup", type: "u64", offset: 32 },
  { name: "actor_exe_dev", type: "u64", offset: 40 },
  { name: "actor_exe_ino", type: "u64", offset: 48 },
  { name: "actor_cgroup", type: "u64", offset: 56 },
  { name: "actor_start_ticks", type: "u64", offset: 64 },
  { name: "object", type: "u64", offset: 72 },
  { name: "rule_id", type: "u32", offset: 80 },
  { name: "verdict", type: "u8", offset: 84 },
  { name: "via", type: "u8", offset: 85 },
  { name: "mechanism", type: "u8", offset: 86 },
  { name: "threadgroup", type: "u8", offset: 87 },
  { name: "actor_pid", type: "u32", offset: 88 },
  { name: "actor_tgid", type: "u32", offset: 92 },
  { name: "actor_euid", type: "u32", offset: 96 },
  { name: "task_pid", type: "u32", offset: 100 },
  { name: "task_tgid", type: "u32", offset: 104 },
  { name: "tamper", type: "u32", offset: 108 },
  { name: "actor_comm", type: "char", offset: 112, count: COMM_LEN },
  { name: "task_comm", type: "char", offset: 128, count: COMM_LEN },
]);

export interface BoundKey extends Record<string, bigint | number> {
  cgroup: bigint;
  epoch: number;
}
export const BoundKeyLayout = defineStruct<BoundKey>("cgw_bound_key", 16, [
  { name: "cgroup", type: "u64", offset: 0 },
  { name: "epoch", type: "u32", offset: 8 },
]);

export interface BindingValue extends Record<string, bigint> {
  exact: bigint;
  matched: bigint;
  children: bigint;
}
export const BindingLayout = defineStruct<BindingValue>("cgw_binding", 24, [
  { name: "exact", type: "u64", offset: 0 },
  { name: "matched", type: "u64", offset: 8 },
  { name: "children", type: "u64", offset: 16 },
]);

export interface PathKey extends Record<string, number | string> {
  epoch: number;
  path: string;
}
export const PathKeyLayout = defineStruct<PathKey>("cgw_path_key", 260, [
  { name: "epoch", type: "u32", offset: 0 },
  { name: "path", type: "char", offset: 4, count: PATH_LEN },
]);

export interface PathValue extends Record<string, bigint> {
  node: bigint;
  children: bigint;
}
export const PathLayout = defineStruct<PathValue>("cgw_path", 16, [
  { name: "node", type: "u64", offset: 0 },
  { name: "children", type: "u64", offset: 8 },
]);

export interface TemplateValue extends Record<string, bigint | number | string> {
  node: bigint;
  prefix_len: number;
  suffix_len: number;
  prefix: string;
  suffix: string;
}
export const TemplateLayout = defineStruct<TemplateValue>("cgw_template", 144, [
  { name: "node", type: "u64", offset: 0 },
  { name: "prefix_len", type: "u8", offset: 8 },
  { name: "suffix_len", type: "u8", offset: 9 },
  { name: "prefix", type: "char", offset: 16, count: TEMPLATE_PART },
  { name: "suffix", type: "char", offset: 80, count: TEMPLATE_PART },
]);

/** struct cgw_template_set: a count, then DIR_TEMPLATES templates from offset 8. */
export const TEMPLATE_SET_SIZE = 8 + DIR_TEMPLATES * TemplateLayout.size;
export function encodeTemplateSet(ts: TemplateValue[]): Buffer {
  if (ts.length > DIR_TEMPLATES) throw new RangeError(`more than ${DIR_TEMPLATES} templates in one directory`);
  const b = Buffer.alloc(TEMPLATE_SET_SIZE);
  b.writeUInt32LE(ts.length, 0);
  ts.forEach((t, i) => TemplateLayout.encode(t).copy(b, 8 + i * TemplateLayout.size));
  return b;
}

export interface NodeStatsValue extends Record<string, bigint> {
  cgroup: bigint;
  binds: bigint;
}
export const NodeStatsLayout = defineStruct<NodeStatsValue>("cgw_node_stats", 16, [
  { name: "cgroup", type: "u64", offset: 0 },
  { name: "binds", type: "u64", offset: 8 },
]);

// ---- the seal ---------------------------------------------------------------

export const MANAGERS = 8;

export interface ManagerValue extends Record<string, bigint | number | string> {
  exe_dev: bigint;
  exe_ino: bigint;
  start_ticks: bigint;
  pid: number;
  exe: string;
}
export const ManagerLayout = defineStruct<ManagerValue>("cgw_manager", 32 + PATH_LEN, [
  { name: "exe_dev", type: "u64", offset: 0 },
  { name: "exe_ino", type: "u64", offset: 8 },
  { name: "start_ticks", type: "u64", offset: 16 },
  { name: "pid", type: "u32", offset: 24 },
  { name: "exe", type: "char", offset: 32, count: PATH_LEN },
]);

export interface SealValue extends Record<string, bigint | number> {
  sealed: number;
  until_reboot: number;
  lock_bpf: number;
  manager_count: number;
  cli_dev: bigint;
  cli_ino: bigint;
  sealed_ns: bigint;
}
/** struct cgw_seal without its managers array, which starts at SEAL_MANAGERS_OFFSET. */
export const SealLayout = defineStruct<SealValue>("cgw_seal", 40 + MANAGERS * (32 + PATH_LEN), [
  { name: "sealed", type: "u32", offset: 0 },
  { name: "until_reboot", type: "u32", offset: 4 },
  { name: "lock_bpf", type: "u32", offset: 8 },
  { name: "manager_count", type: "u32", offset: 12 },
  { name: "cli_dev", type: "u64", offset: 16 },
  { name: "cli_ino", type: "u64", offset: 24 },
  { name: "sealed_ns", type: "u64", offset: 32 },
]);
export const SEAL_MANAGERS_OFFSET = 40;

export function encodeSeal(seal: SealValue, managers: ManagerValue[]): Buffer {
  if (managers.length > MANAGERS) throw new RangeError(`more than ${MANAGERS} managers`);
  const b = SealLayout.encode({ ...seal, manager_count: managers.length });
  managers.forEach((m, i) => ManagerLayout.encode(m).copy(b, SEAL_MANAGERS_OFFSET + i * ManagerLayout.size));
  return b;
}

export function decodeSeal(raw: Uint8Array): { seal: SealValue; managers: ManagerValue[] } {
  const seal = SealLayout.decode(raw);
  const b = Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength);
  const n = Math.min(seal.manager_count, MANAGERS);
  const managers = Array.from({ length: n }, (_, i) =>
    ManagerLayout.decode(b.subarray(SEAL_MANAGERS_OFFSET + i * ManagerLayout.size, SEAL_MANAGERS_OFFSET + (i + 1) * ManagerLayout.size)),
  );
  return { seal, managers };
}

export const ProtectedKind = { map: 1, mapReadable: 2, prog: 3, link: 4, dir: 5, fs: 6 } as const;

export interface ProtectedKey extends Record<string, bigint | number> {
  a: bigint;
  b: bigint;
  kind: number;
}
export const ProtectedKeyLayout = defineStruct<ProtectedKey>("cgw_protected_key", 24, [
  { name: "a", type: "u64", offset: 0 },
  { name: "b", type: "u64", offset: 8 },
  { name: "kind", type: "u32", offset: 16 },
]);

/** enum cgw_tamper: what a refused attempt on a sealed policy aimed at. */
export const Tamper = {
  "map-open": 1, "map-write": 2, "prog-uses": 4, link: 5, "bpf-locked": 6, unlink: 7, rename: 8, umount: 9, ptrace: 10,
} as const;
export type TamperName = keyof typeof Tamper;
export const tamperName = decoder(Tamper);

export const ALL_LAYOUTS = [
  LockLayout, GateKeyLayout, GateLayout, SelectorKeyLayout, RuleLayout, SettingsLayout, RecordLayout,
  BoundKeyLayout, BindingLayout, PathKeyLayout, PathLayout, TemplateLayout, NodeStatsLayout,
  ManagerLayout, SealLayout, ProtectedKeyLayout,
];

