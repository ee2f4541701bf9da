// Generated from bpf/cgwarden.h by scripts/build.ts (scripts/header-abi.ts): do not edit.
// Struct layouts come from the compiler's BTF; cli/object/abi.ts gives them names.
import { defineStruct } from "./struct.ts";

export const CGW_ABI_VERSION = 10;
export const CGW_AUTHORIZATION_MAX = 4092;
export const CGW_AUTHORIZATION_TTL_S = 300;
export const CGW_COMM_LEN = 16;
export const CGW_DIR_TEMPLATES = 16;
export const CGW_GATE_SLOTS = 64;
export const CGW_LEVELS = 33;
export const CGW_MANAGERS = 8;
export const CGW_MAX_LEVEL = 32;
export const CGW_NODE_EPOCH = 9223372036854775808n;
export const CGW_PATH_LEN = 256;
export const CGW_PID_MAX = 4194304;
export const CGW_TEMPLATE_PART = 64;
export const CGW_UID_MAX = 4294967294;
export const CGW_CHALLENGE_MAGIC = "cgwarden-authz-1";

// enum cgw_via
export const CGW_VIA_PROCS = 1;
export const CGW_VIA_THREADS = 2;
export const CGW_VIA_CLONE = 3;
export const CGW_VIA_TAMPER = 4;

// enum cgw_direction
export const CGW_DIR_IN = 1;
export const CGW_DIR_OUT = 2;
export const CGW_DIR_WITHIN = 4;

// enum cgw_mode
export const CGW_MODE_ENFORCE = 0;
export const CGW_MODE_AUDIT = 1;

// enum cgw_rule_kind
export const CGW_RULE_LOCK = 1;
export const CGW_RULE_ALLOW = 2;
export const CGW_RULE_DELEGATE = 3;

// enum cgw_selector
export const CGW_SEL_PID = 0;
export const CGW_SEL_EXE = 1;
export const CGW_SEL_UID = 2;
export const CGW_SEL_CGROUP = 3;
export const CGW_SEL_KINDS = 4;

// enum cgw_verdict
export const CGW_VERDICT_ALLOW = 0;
export const CGW_VERDICT_DENY = 1;
export const CGW_VERDICT_AUDIT = 2;

// enum cgw_mechanism
export const CGW_MECH_NONE = 0;
export const CGW_MECH_NATIVE = 1;
export const CGW_MECH_MAINLINE = 2;

// enum cgw_stat
export const CGW_STAT_DECISIONS = 0;
export const CGW_STAT_ALLOWED = 1;
export const CGW_STAT_DENIED = 2;
export const CGW_STAT_AUDITED = 3;
export const CGW_STAT_DROPPED = 4;
export const CGW_STAT_RECORDED = 5;
export const CGW_STAT_COUNT = 6;

// enum cgw_protected_kind
export const CGW_PROT_MAP = 1;
export const CGW_PROT_MAP_READABLE = 2;
export const CGW_PROT_PROG = 3;
export const CGW_PROT_LINK = 4;
export const CGW_PROT_DIR = 5;
export const CGW_PROT_FS = 6;
export const CGW_PROT_MAP_PRESENTED = 7;

// enum cgw_tamper
export const CGW_TAMPER_MAP_OPEN = 1;
export const CGW_TAMPER_MAP_WRITE = 2;
export const CGW_TAMPER_PROG_USES = 4;
export const CGW_TAMPER_LINK = 5;
export const CGW_TAMPER_BPF_LOCKED = 6;
export const CGW_TAMPER_UNLINK = 7;
export const CGW_TAMPER_RENAME = 8;
export const CGW_TAMPER_UMOUNT = 9;
export const CGW_TAMPER_PTRACE = 10;
export const CGW_TAMPER_BPF_COMMAND = 11;
export const CGW_TAMPER_KNOB = 12;
export const CGW_TAMPER_AUTHORIZATION = 13;

// enum cgw_knob
export const CGW_KNOB_FTRACE_ENABLED = 1;

// enum cgw_refusal
export const CGW_REFUSAL_NO_CHALLENGE = 1;
export const CGW_REFUSAL_EXPIRED = 2;
export const CGW_REFUSAL_TRACED = 3;
export const CGW_REFUSAL_KEY_GONE = 4;
export const CGW_REFUSAL_MALFORMED = 5;
export const CGW_REFUSAL_SIGNATURE = 6;

/** struct cgw_lock */
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

/** struct cgw_gate_key */
export interface GateKey extends Record<string, bigint | number> {
  anchor: bigint;
  kind: number;
}
export const GateKeyLayout = defineStruct<GateKey>("cgw_gate_key", 16, [
  { name: "anchor", type: "u64", offset: 0 },
  { name: "kind", type: "u32", offset: 8 },
]);

/** struct cgw_gate */
export interface GateValue extends Record<string, bigint | bigint[] | number[]> {
  live: bigint;
  need: bigint[];
  rule_id: number[];
}
export const GateLayout = defineStruct<GateValue>("cgw_gate", 296, [
  { name: "live", type: "u64", offset: 0 },
  { name: "need", type: "u64[]", offset: 8, count: 4 },
  { name: "rule_id", type: "u32[]", offset: 40, count: 64 },
]);

/** struct cgw_selector_key */
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

/** struct cgw_bound_key */
export interface BoundKey extends Record<string, bigint | number> {
  cgroup: bigint;
  epoch: number;
}
export const BoundKeyLayout = defineStruct<BoundKey>("cgw_bound_key", 16, [
  { name: "cgroup", type: "u64", offset: 0 },
  { name: "epoch", type: "u32", offset: 8 },
]);

/** struct cgw_binding */
export interface BindingValue extends Record<string, bigint> {
  exact: bigint;
  matched: bigint;
  children: bigint;
  descend: bigint;
}
export const BindingLayout = defineStruct<BindingValue>("cgw_binding", 32, [
  { name: "exact", type: "u64", offset: 0 },
  { name: "matched", type: "u64", offset: 8 },
  { name: "children", type: "u64", offset: 16 },
  { name: "descend", type: "u64", offset: 24 },
]);

/** struct cgw_path_key */
export interface PathKey extends Record<string, number | string> {
  epoch: number;
  path: string;
}
export const PathKeyLayout = defineStruct<PathKey>("cgw_path_key", 260, [
  { name: "epoch", type: "u32", offset: 0 },
  { name: "path", type: "char", offset: 4, count: 256 },
]);

/** struct cgw_path */
export interface PathValue extends Record<string, bigint> {
  node: bigint;
  children: bigint;
  descend: bigint;
}
export const PathLayout = defineStruct<PathValue>("cgw_path", 24, [
  { name: "node", type: "u64", offset: 0 },
  { name: "children", type: "u64", offset: 8 },
  { name: "descend", type: "u64", offset: 16 },
]);

/** struct cgw_template */
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
  { name: "prefix", type: "char", offset: 16, count: 64 },
  { name: "suffix", type: "char", offset: 80, count: 64 },
]);

/** struct cgw_template_set (arrays of structs: see the _OFFSET constants) */
export interface TemplateSetValue extends Record<string, number> {
  count: number;
}
export const TemplateSetLayout = defineStruct<TemplateSetValue>("cgw_template_set", 2312, [
  { name: "count", type: "u32", offset: 0 },
]);
export const TEMPLATE_SET_T_OFFSET = 8;

/** struct cgw_node_stats */
export interface NodeStatsValue extends Record<string, bigint> {
  cgroup: bigint;
  binds: bigint;
}
export const NodeStatsLayout = defineStruct<NodeStatsValue>("cgw_node_stats", 16, [
  { name: "cgroup", type: "u64", offset: 0 },
  { name: "binds", type: "u64", offset: 8 },
]);

/** struct cgw_rule */
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
  source_line: number;
  pid_start: bigint;
  exe_dev: bigint;
  exe_ino: bigint;
  sel_node: bigint;
  created_ns: bigint;
  binds_base: bigint;
  cgroup_path: string;
  exe_path: string;
  sel_cgroup_path: string;
  source: string;
}
export const RuleLayout = defineStruct<RuleValue>("cgw_rule", 1104, [
  { name: "id", type: "u32", offset: 0 },
  { name: "kind", type: "u8", offset: 4 },
  { name: "directions", type: "u8", offset: 5 },
  { name: "mode", type: "u8", offset: 6 },
  { name: "slot", type: "u8", offset: 7 },
  { name: "node", type: "u64", offset: 8 },
  { name: "selectors", type: "u32", offset: 16 },
  { name: "uid", type: "u32", offset: 20 },
  { name: "pid", type: "u32", offset: 24 },
  { name: "source_line", type: "u32", offset: 28 },
  { name: "pid_start", type: "u64", offset: 32 },
  { name: "exe_dev", type: "u64", offset: 40 },
  { name: "exe_ino", type: "u64", offset: 48 },
  { name: "sel_node", type: "u64", offset: 56 },
  { name: "created_ns", type: "u64", offset: 64 },
  { name: "binds_base", type: "u64", offset: 72 },
  { name: "cgroup_path", type: "char", offset: 80, count: 256 },
  { name: "exe_path", type: "char", offset: 336, count: 256 },
  { name: "sel_cgroup_path", type: "char", offset: 592, count: 256 },
  { name: "source", type: "char", offset: 848, count: 256 },
]);

/** struct cgw_settings */
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
  { name: "applied_file", type: "char", offset: 200, count: 256 },
  { name: "applied_sha256", type: "char", offset: 456, count: 72 },
]);

/** struct cgw_record */
export interface RecordValue extends Record<string, bigint | number | string> {
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
  src_path: string;
  dst_path: string;
  actor_path: string;
}
export const RecordLayout = defineStruct<RecordValue>("cgw_record", 912, [
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
  { name: "actor_comm", type: "char", offset: 112, count: 16 },
  { name: "task_comm", type: "char", offset: 128, count: 16 },
  { name: "src_path", type: "char", offset: 144, count: 256 },
  { name: "dst_path", type: "char", offset: 400, count: 256 },
  { name: "actor_path", type: "char", offset: 656, count: 256 },
]);

/** struct cgw_exe_identity */
export interface ExeIdentityValue extends Record<string, bigint | number> {
  dev: bigint;
  ino: bigint;
  gen: number;
  manager: number;
  from_manager: number;
}
export const ExeIdentityLayout = defineStruct<ExeIdentityValue>("cgw_exe_identity", 32, [
  { name: "dev", type: "u64", offset: 0 },
  { name: "ino", type: "u64", offset: 8 },
  { name: "gen", type: "u32", offset: 16 },
  { name: "manager", type: "u32", offset: 20 },
  { name: "from_manager", type: "u32", offset: 24 },
]);

/** struct cgw_manager */
export interface ManagerValue extends Record<string, bigint | number | string> {
  exe_dev: bigint;
  exe_ino: bigint;
  start_ticks: bigint;
  pid: number;
  exe_gen: number;
  exe: string;
}
export const ManagerLayout = defineStruct<ManagerValue>("cgw_manager", 288, [
  { name: "exe_dev", type: "u64", offset: 0 },
  { name: "exe_ino", type: "u64", offset: 8 },
  { name: "start_ticks", type: "u64", offset: 16 },
  { name: "pid", type: "u32", offset: 24 },
  { name: "exe_gen", type: "u32", offset: 28 },
  { name: "exe", type: "char", offset: 32, count: 256 },
]);

/** struct cgw_seal (arrays of structs: see the _OFFSET constants) */
export interface SealValue extends Record<string, number | bigint | Buffer | string> {
  sealed: number;
  until_reboot: number;
  lock_bpf: number;
  manager_count: number;
  cli_dev: bigint;
  cli_ino: bigint;
  cli_gen: number;
  sealed_ns: bigint;
  key_ring: number;
  key_cert: number;
  board_map: number;
  authorizations_map: number;
  key_sha256: Buffer;
  key_subject: string;
  key_path: string;
}
export const SealLayout = defineStruct<SealValue>("cgw_seal", 2912, [
  { name: "sealed", type: "u32", offset: 0 },
  { name: "until_reboot", type: "u32", offset: 4 },
  { name: "lock_bpf", type: "u32", offset: 8 },
  { name: "manager_count", type: "u32", offset: 12 },
  { name: "cli_dev", type: "u64", offset: 16 },
  { name: "cli_ino", type: "u64", offset: 24 },
  { name: "cli_gen", type: "u32", offset: 32 },
  { name: "sealed_ns", type: "u64", offset: 40 },
  { name: "key_ring", type: "u32", offset: 48 },
  { name: "key_cert", type: "u32", offset: 52 },
  { name: "board_map", type: "u32", offset: 56 },
  { name: "authorizations_map", type: "u32", offset: 60 },
  { name: "key_sha256", type: "bytes", offset: 64, count: 32 },
  { name: "key_subject", type: "char", offset: 96, count: 256 },
  { name: "key_path", type: "char", offset: 352, count: 256 },
]);
export const SEAL_MANAGERS_OFFSET = 608;

/** struct cgw_process_key */
export interface ProcessKey extends Record<string, bigint | number> {
  start_ticks: bigint;
  tgid: number;
}
export const ProcessKeyLayout = defineStruct<ProcessKey>("cgw_process_key", 16, [
  { name: "start_ticks", type: "u64", offset: 0 },
  { name: "tgid", type: "u32", offset: 8 },
]);

/** struct cgw_challenge */
export interface ChallengeValue extends Record<string, string | bigint | number | Buffer> {
  magic: string;
  sealed_ns: bigint;
  start_ticks: bigint;
  tgid: number;
  key_ring: number;
  issued_ns: bigint;
  nonce: Buffer;
}
export const ChallengeLayout = defineStruct<ChallengeValue>("cgw_challenge", 64, [
  { name: "magic", type: "char", offset: 0, count: 16 },
  { name: "sealed_ns", type: "u64", offset: 16 },
  { name: "start_ticks", type: "u64", offset: 24 },
  { name: "tgid", type: "u32", offset: 32 },
  { name: "key_ring", type: "u32", offset: 36 },
  { name: "issued_ns", type: "u64", offset: 40 },
  { name: "nonce", type: "bytes", offset: 48, count: 16 },
]);

/** struct cgw_authorization */
export interface AuthorizationValue extends Record<string, number | Buffer> {
  len: number;
  pkcs7: Buffer;
}
export const AuthorizationLayout = defineStruct<AuthorizationValue>("cgw_authorization", 4096, [
  { name: "len", type: "u32", offset: 0 },
  { name: "pkcs7", type: "bytes", offset: 4, count: 4092 },
]);

/** struct cgw_protected_key */
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

/** Every struct of the header, for the layout test. */
export const ALL_LAYOUTS = [LockLayout, GateKeyLayout, GateLayout, SelectorKeyLayout, BoundKeyLayout, BindingLayout, PathKeyLayout, PathLayout, TemplateLayout, TemplateSetLayout, NodeStatsLayout, RuleLayout, SettingsLayout, RecordLayout, ExeIdentityLayout, ManagerLayout, SealLayout, ProcessKeyLayout, ChallengeLayout, AuthorizationLayout, ProtectedKeyLayout];
