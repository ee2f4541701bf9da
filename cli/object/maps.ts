// The maps of the BPF object that userspace pins and uses, and the shape each
// must have: anything else is not cgwarden's, or is from another ABI.
import { BpfMapType } from "../libbpf/uapi.ts";
import {
  AuthorizationLayout, BindingLayout, BoundKeyLayout, ChallengeLayout, ExeIdentityLayout, GateKeyLayout, GateLayout, LockLayout, NodeStatsLayout, PathKeyLayout, PathLayout,
  ProcessKeyLayout, ProtectedKeyLayout, RecordLayout, RuleLayout, SealLayout, SelectorKeyLayout, SettingsLayout, TEMPLATE_SET_SIZE,
} from "./abi.ts";

/** Maps pinned by name; together they are the whole policy and its bookkeeping. */
export const PINNED_MAPS = [
  "settings", "locks", "gates", "selectors", "bound", "paths", "templates", "node_stats", "grace", "grace_slot",
  "rules", "stats", "recorder", "recorder_head", "events", "executed", "seal", "protected", "challenge_board", "authorizations",
] as const;
export type PinnedMapName = (typeof PINNED_MAPS)[number];

const {
  BPF_MAP_TYPE_HASH: HASH, BPF_MAP_TYPE_LRU_HASH: LRU_HASH, BPF_MAP_TYPE_ARRAY: ARRAY, BPF_MAP_TYPE_PERCPU_ARRAY: PERCPU_ARRAY,
  BPF_MAP_TYPE_RINGBUF: RINGBUF, BPF_MAP_TYPE_TASK_STORAGE: TASK_STORAGE, BPF_MAP_TYPE_ARRAY_OF_MAPS: ARRAY_OF_MAPS,
} = BpfMapType;

/**
 * What a sealed policy lets anyone but a manager open, read-only: the maps
 * only userspace writes (BPF_F_RDONLY_PROG, so no program can write them by
 * any route) and the audit trail. Every other map of the object, pinned or
 * not, gets no fd at all: even a read-only fd lets a new map-in-map carry it
 * to a program that writes it. See bpf/cgwarden.h, enum cgw_protected_kind.
 */
export const READABLE_WHEN_SEALED: ReadonlySet<PinnedMapName> = new Set<PinnedMapName>([
  "settings", "locks", "gates", "selectors", "paths", "templates", "rules", "seal", "protected",
  "recorder", "recorder_head", "stats", "node_stats", "events", "challenge_board",
]);

/**
 * The one map a sealed policy lets anyone open for writing: under a key
 * seal, each write is an authorization the kernel verifies before it lands
 * (bpf/seal_key.bpf.h), and every other command on it stays refused. It is
 * BPF_F_RDONLY_PROG, and what it holds is a record that decides nothing.
 */
export const PRESENTED_WHEN_SEALED: PinnedMapName = "authorizations";

export const MAP_SHAPES: Record<PinnedMapName, { type: number; keySize: number; valueSize: number }> = {
  settings: { type: ARRAY, keySize: 4, valueSize: SettingsLayout.size },
  locks: { type: HASH, keySize: 8, valueSize: LockLayout.size },
  gates: { type: HASH, keySize: GateKeyLayout.size, valueSize: GateLayout.size },
  selectors: { type: HASH, keySize: SelectorKeyLayout.size, valueSize: 8 },
  bound: { type: HASH, keySize: BoundKeyLayout.size, valueSize: BindingLayout.size },
  paths: { type: HASH, keySize: PathKeyLayout.size, valueSize: PathLayout.size },
  templates: { type: HASH, keySize: 8, valueSize: TEMPLATE_SET_SIZE },
  node_stats: { type: HASH, keySize: 8, valueSize: NodeStatsLayout.size },
  grace: { type: ARRAY_OF_MAPS, keySize: 4, valueSize: 4 },
  grace_slot: { type: ARRAY, keySize: 4, valueSize: 4 },
  rules: { type: HASH, keySize: 4, valueSize: RuleLayout.size },
  stats: { type: PERCPU_ARRAY, keySize: 4, valueSize: 8 },
  recorder: { type: ARRAY, keySize: 4, valueSize: RecordLayout.size },
  recorder_head: { type: ARRAY, keySize: 4, valueSize: 8 },
  events: { type: RINGBUF, keySize: 0, valueSize: 0 },
  executed: { type: TASK_STORAGE, keySize: 4, valueSize: ExeIdentityLayout.size },
  seal: { type: ARRAY, keySize: 4, valueSize: SealLayout.size },
  protected: { type: HASH, keySize: ProtectedKeyLayout.size, valueSize: 4 },
  challenge_board: { type: LRU_HASH, keySize: ProcessKeyLayout.size, valueSize: ChallengeLayout.size },
  authorizations: { type: LRU_HASH, keySize: ProcessKeyLayout.size, valueSize: AuthorizationLayout.size },
};
