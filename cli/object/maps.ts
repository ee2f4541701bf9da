// The maps of the BPF object that userspace pins and uses, and the shape each
// must have: anything else is not cgwarden's, or is from another ABI.
import {
  BindingLayout, BoundKeyLayout, GateKeyLayout, GateLayout, LockLayout, NodeStatsLayout, PathKeyLayout, PathLayout,
  RecordLayout, RuleLayout, SelectorKeyLayout, SettingsLayout, TEMPLATE_SET_SIZE,
} from "./abi.ts";

/** Maps pinned by name; together they are the whole policy and its bookkeeping. */
export const PINNED_MAPS = [
  "settings", "locks", "gates", "selectors", "bound", "paths", "templates", "node_stats", "grace", "grace_slot",
  "rules", "stats", "recorder", "recorder_head", "events", "executed",
] as const;
export type PinnedMapName = (typeof PINNED_MAPS)[number];

// enum bpf_map_type (UAPI)
const HASH = 1;
const ARRAY = 2;
const PERCPU_ARRAY = 6;
const RINGBUF = 27;
const TASK_STORAGE = 29;
const ARRAY_OF_MAPS = 12;

/** struct exe_identity in bpf/cgwarden.bpf.c: dev, ino. */
export const EXE_IDENTITY_SIZE = 16;

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
  executed: { type: TASK_STORAGE, keySize: 4, valueSize: EXE_IDENTITY_SIZE },
};
