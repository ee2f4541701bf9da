// The CLI's names for bpf/cgwarden.h, the one contract with the BPF object.
// Every value and layout comes from the generated ./header.ts (scripts/build.ts
// writes it from the header); this module only names them for TypeScript.
import * as H from "./header.ts";
import { ManagerLayout, SEAL_MANAGERS_OFFSET, SealLayout, TemplateLayout, TemplateSetLayout, type ManagerValue, type SealValue, type TemplateValue } from "./header.ts";

export * from "./header.ts";

export const ABI_VERSION = H.CGW_ABI_VERSION;
export const MAX_LEVEL = H.CGW_MAX_LEVEL;
export const GATE_SLOTS = H.CGW_GATE_SLOTS;
export const PATH_LEN = H.CGW_PATH_LEN;
export const COMM_LEN = H.CGW_COMM_LEN;
/** The epoch bit of a node id; see bpf/cgwarden.h. */
export const NODE_EPOCH = H.CGW_NODE_EPOCH;
export const DIR_TEMPLATES = H.CGW_DIR_TEMPLATES;
export const TEMPLATE_PART = H.CGW_TEMPLATE_PART;
export const MANAGERS = H.CGW_MANAGERS;
/** The highest pid the kernel hands out (PID_MAX_LIMIT), and the highest uid ((uid_t)-1 is none). */
export const PID_MAX = H.CGW_PID_MAX;
export const UID_MAX = H.CGW_UID_MAX;

export const Via = { procs: H.CGW_VIA_PROCS, threads: H.CGW_VIA_THREADS, clone: H.CGW_VIA_CLONE, tamper: H.CGW_VIA_TAMPER } as const;
export type ViaName = keyof typeof Via;

export const Direction = { in: H.CGW_DIR_IN, out: H.CGW_DIR_OUT, within: H.CGW_DIR_WITHIN } as const;
export type DirectionName = keyof typeof Direction;
export const ALL_DIRECTIONS = Direction.in | Direction.out | Direction.within;
/** A lock's direction bits from their names, and back: the one codec. */
export function directionBits(names: readonly DirectionName[]): number {
  return names.reduce((bits, d) => bits | Direction[d], 0);
}
export function directionNames(bits: number): DirectionName[] {
  return (Object.keys(Direction) as DirectionName[]).filter((d) => bits & Direction[d]);
}

export const Mode = { enforce: H.CGW_MODE_ENFORCE, audit: H.CGW_MODE_AUDIT } as const;
export type ModeName = keyof typeof Mode;

export const RuleKind = { lock: H.CGW_RULE_LOCK, allow: H.CGW_RULE_ALLOW, delegate: H.CGW_RULE_DELEGATE } as const;
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

export const Selector = { pid: H.CGW_SEL_PID, exe: H.CGW_SEL_EXE, uid: H.CGW_SEL_UID, cgroup: H.CGW_SEL_CGROUP } as const;
export type SelectorName = keyof typeof Selector;
export const SELECTOR_KINDS = H.CGW_SEL_KINDS;

export const Verdict = { allow: H.CGW_VERDICT_ALLOW, deny: H.CGW_VERDICT_DENY, audit: H.CGW_VERDICT_AUDIT } as const;
export type VerdictName = keyof typeof Verdict;

export const Stat = {
  decisions: H.CGW_STAT_DECISIONS, allowed: H.CGW_STAT_ALLOWED, denied: H.CGW_STAT_DENIED,
  audited: H.CGW_STAT_AUDITED, dropped: H.CGW_STAT_DROPPED, recorded: H.CGW_STAT_RECORDED,
} as const;
export const STAT_COUNT = H.CGW_STAT_COUNT;

/** struct cgw_template_set: a count, then DIR_TEMPLATES templates. */
export const TEMPLATE_SET_SIZE = TemplateSetLayout.size;
export function encodeTemplateSet(ts: TemplateValue[]): Buffer {
  if (ts.length > DIR_TEMPLATES) throw new RangeError(`more than ${DIR_TEMPLATES} templates in one directory`);
  const b = Buffer.alloc(TEMPLATE_SET_SIZE);
  b.writeUInt32LE(ts.length, 0);
  ts.forEach((t, i) => TemplateLayout.encode(t).copy(b, H.TEMPLATE_SET_T_OFFSET + i * TemplateLayout.size));
  return b;
}

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

export const ProtectedKind = {
  map: H.CGW_PROT_MAP, mapReadable: H.CGW_PROT_MAP_READABLE, prog: H.CGW_PROT_PROG,
  link: H.CGW_PROT_LINK, dir: H.CGW_PROT_DIR, fs: H.CGW_PROT_FS, mapPresented: H.CGW_PROT_MAP_PRESENTED,
} as const;

/** enum cgw_tamper: what a refused attempt on a sealed policy aimed at. */
export const Tamper = {
  "map-open": H.CGW_TAMPER_MAP_OPEN, "map-write": H.CGW_TAMPER_MAP_WRITE, "prog-uses": H.CGW_TAMPER_PROG_USES,
  link: H.CGW_TAMPER_LINK, "bpf-locked": H.CGW_TAMPER_BPF_LOCKED, unlink: H.CGW_TAMPER_UNLINK,
  rename: H.CGW_TAMPER_RENAME, umount: H.CGW_TAMPER_UMOUNT, ptrace: H.CGW_TAMPER_PTRACE,
  "bpf-command": H.CGW_TAMPER_BPF_COMMAND, knob: H.CGW_TAMPER_KNOB, authorization: H.CGW_TAMPER_AUTHORIZATION,
} as const;
export type TamperName = keyof typeof Tamper;

/** enum cgw_knob: the kernel knob a refused write aimed at, as its sysctl name. */
export const Knob = { "kernel.ftrace_enabled": H.CGW_KNOB_FTRACE_ENABLED } as const;
export const knobName = decoder(Knob);

/** enum cgw_refusal: why the key seal refused an authorization. */
export const Refusal = {
  "no challenge issued to the process, or it was used": H.CGW_REFUSAL_NO_CHALLENGE,
  "its challenge expired": H.CGW_REFUSAL_EXPIRED,
  "the process is traced": H.CGW_REFUSAL_TRACED,
  "the seal's key is gone": H.CGW_REFUSAL_KEY_GONE,
  "not an authorization": H.CGW_REFUSAL_MALFORMED,
  "its signature does not verify against the seal's key": H.CGW_REFUSAL_SIGNATURE,
} as const;
export const refusalName = decoder(Refusal);
export const tamperName = decoder(Tamper);
