// What is loaded, read back from the kernel rather than remembered.
import { existsSync, readFileSync } from "node:fs";
import { BpfAttachType, KernelBtf, closeFd, linkInfo, openPinned } from "../libbpf/index.ts";
import { STAT_COUNT, Stat, modeName, type ModeName } from "../object/abi.ts";
import { u32Key } from "../object/struct.ts";
import { pinPaths } from "./paths.ts";
import { SEAL_PROGRAMS } from "../object/mechanism.ts";
import { lockdownMode } from "../kernel/lockdown.ts";
import { openState, type PinnedState, type SealState } from "./state.ts";

export interface ProgramStatus {
  program: string;
  progId: number;
  linkId: number;
  /** Kernel function or LSM hook the link is attached to, as the kernel reports it. */
  attachedTo: string;
}

export interface WardenStatus {
  loaded: boolean;
  pinDir: string;
  mechanism?: string;
  /** What the mechanism hooks, and why it is the one in force. */
  mechanismDetail?: string;
  /** The kernel's lockdown mode, or null without the lockdown LSM. */
  lockdown?: string | null;
  version?: string;
  objectSha256?: string;
  globalMode?: ModeName;
  programs?: ProgramStatus[];
  counters?: Record<keyof typeof Stat, number>;
  rules?: number;
  seal?: SealState;
  /** Where the policy in force came from; null until the first change. */
  applied?: { at: string; origin: string; by: string; file: string | null; sha256: string | null } | null;
}

export function readStatus(pinDir: string): WardenStatus {
  const state = openState(pinDir);
  if (!state) return { loaded: false, pinDir };
  try {
    const s = state.settings();
    return {
      loaded: true,
      pinDir,
      mechanism: state.mechanism.name,
      mechanismDetail:
        state.mechanism.name === "native"
          ? `${state.mechanism.describe}: the kernel has the hook with the seed's signature`
          : `${state.mechanism.describe}: the kernel has no cgroup_attach hook with the signature cgwarden knows ('cgwarden check' says what it has)`,
      lockdown: lockdownMode(),
      version: s.version,
      objectSha256: s.object_sha256,
      globalMode: modeName(s.global_mode),
      programs: programStatus(state),
      counters: readCounters(state),
      rules: [...state.maps.rules.keys(4)].length,
      seal: state.seal(),
      applied: s.applied_ns
        ? {
            at: new Date(Number(s.applied_ns / 1_000_000n)).toISOString(),
            origin: s.applied_origin,
            by: s.applied_by,
            file: s.applied_file || null,
            sha256: s.applied_sha256 || null,
          }
        : null,
    };
  } finally {
    state.close();
  }
}

function programStatus(state: PinnedState): ProgramStatus[] {
  const p = pinPaths(state.pinDir);
  const btf = KernelBtf.load();
  try {
    const sealLinks = SEAL_PROGRAMS.filter((name) => existsSync(p.link(name)));
    return [...state.mechanism.programs, ...sealLinks].map((program) => {
      const fd = openPinned(p.link(program));
      if (fd === null) return { program, progId: 0, linkId: 0, attachedTo: "(not attached)" };
      try {
        const info = linkInfo(fd);
        const attachedTo = info.tracepoint !== null ? `tp_btf/${info.tracepoint}` : hookName(info.attachType, btf.nameOf(info.targetBtfId));
        return { program, progId: info.progId, linkId: info.linkId, attachedTo };
      } finally {
        closeFd(fd);
      }
    });
  } finally {
    btf.free();
  }
}

const ATTACH_TYPES: Record<number, string> = {
  [BpfAttachType.BPF_TRACE_FENTRY]: "fentry",
  [BpfAttachType.BPF_TRACE_FEXIT]: "fexit",
  [BpfAttachType.BPF_LSM_MAC]: "lsm",
};

// LSM programs attach to the bpf_lsm_<hook> stub; admins know the hook's name.
function hookName(attachType: number, fn: string | null): string {
  const kind = ATTACH_TYPES[attachType] ?? `attach type ${attachType}`;
  if (!fn) return `${kind} (unknown target)`;
  return fn.startsWith("bpf_lsm_") ? `lsm/${fn.slice("bpf_lsm_".length)}` : `${kind}/${fn}`;
}

export function readCounters(state: PinnedState): Record<keyof typeof Stat, number> {
  const ncpu = possibleCpus();
  const out = {} as Record<keyof typeof Stat, number>;
  for (const [name, index] of Object.entries(Stat) as [keyof typeof Stat, number][]) {
    if (index >= STAT_COUNT) continue;
    const v = state.maps.stats.lookup(u32Key(index), 8 * ncpu);
    let sum = 0n;
    for (let cpu = 0; v && cpu < ncpu; cpu++) sum += v.readBigUInt64LE(cpu * 8);
    out[name] = Number(sum);
  }
  return out;
}

// Per-CPU map values have one slot per possible CPU, not per online CPU.
function possibleCpus(): number {
  const text = readFileSync("/sys/devices/system/cpu/possible", "utf8").trim();
  let n = 0;
  for (const part of text.split(",")) {
    const [a, b] = part.split("-").map(Number);
    n += b === undefined ? 1 : b - (a ?? 0) + 1;
  }
  return n;
}
