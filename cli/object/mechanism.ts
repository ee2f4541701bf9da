// The two ways cgwarden reaches the one decision function in bpf/cgwarden.bpf.c.
import { CGW_MECH_MAINLINE, CGW_MECH_NATIVE } from "./header.ts";

export type MechanismName = "native" | "mainline";

export interface Mechanism {
  name: MechanismName;
  /** Value of enum cgw_mechanism in bpf/cgwarden.h. */
  code: number;
  describe: string;
  /** Kernel functions that must exist in BTF, with why. */
  requires: string[];
  /**
   * Programs in attach order. Exit programs go before entry programs and the
   * enforcing program last, so per-task state never begins without its end
   * being attached; detach runs in reverse.
   */
  programs: string[];
}

/**
 * Both mechanisms judge --exe by what a process really executed, recorded at
 * exec (and before its first PR_SET_MM), never by the forgeable mm->exe_file.
 * Attached before anything decides, so no decision sees an unrecorded exec.
 */
const IDENTITY_HOOKS = ["bpf_lsm_bprm_committed_creds", "bpf_lsm_task_prctl"];
const IDENTITY_PROGRAMS = ["cgwarden_exec", "cgwarden_prctl"];

/*
 * Rules follow paths: the cgroup_mkdir and cgroup_rmdir tracepoints bind
 * and unbind cgroups as they come and go (bpf/binding.bpf.h). Attached
 * before anything decides, so no decision sees a cgroup created unbound.
 */
const BINDING_PROGRAMS = ["cgwarden_mkdir", "cgwarden_rmdir"];

/**
 * The native hook as lsm/cgroup_attach in bpf/native.bpf.h is written for:
 * the seed series' bpf_lsm_cgroup_attach(task, src, dst, sb, threadgroup, ns).
 * A merged version may be a security_cgroup_attach() LSM hook (lsm_hook_defs.h),
 * reached under the same BPF name but perhaps with other arguments; the
 * program reads its arguments by position, so only this exact signature is
 * native, and any other falls back to the mainline mechanism.
 */
export const NATIVE_HOOK = {
  fn: "bpf_lsm_cgroup_attach",
  params: ["struct task_struct *", "struct cgroup *", "struct cgroup *", "struct super_block *", "bool", "struct cgroup_namespace *"],
} as const;

export type NativeHook =
  | { state: "present" }
  | { state: "absent" }
  /** The kernel has the hook under its name, with these parameter types. */
  | { state: "other-signature"; params: string[] };

/** What the kernel's BTF says of the native hook. */
export function findNativeHook(btf: { functionParams(name: string): string[] | null }): NativeHook {
  const params = btf.functionParams(NATIVE_HOOK.fn);
  if (!params) return { state: "absent" };
  const same = params.length === NATIVE_HOOK.params.length && params.every((p, i) => p === NATIVE_HOOK.params[i]);
  return same ? { state: "present" } : { state: "other-signature", params };
}

export const NATIVE: Mechanism = {
  name: "native",
  code: CGW_MECH_NATIVE,
  describe: "lsm/cgroup_attach (proposed kernel hook)",
  requires: [NATIVE_HOOK.fn, ...IDENTITY_HOOKS],
  programs: [...IDENTITY_PROGRAMS, ...BINDING_PROGRAMS, "cgwarden_cgroup_attach"],
};

export const MAINLINE: Mechanism = {
  name: "mainline",
  code: CGW_MECH_MAINLINE,
  describe: "fentry/fexit on the cgroup write and fork paths + lsm/inode_permission",
  requires: [
    "cgroup_procs_write_start",
    "cgroup_can_fork",
    "cgroup_attach_permissions",
    "bpf_lsm_inode_permission",
    ...IDENTITY_HOOKS,
  ],
  programs: [
    ...IDENTITY_PROGRAMS,
    ...BINDING_PROGRAMS,
    "cgwarden_attach_permissions_exit",
    "cgwarden_procs_write_start",
    "cgwarden_can_fork",
    "cgwarden_attach_permissions",
    "cgwarden_inode_permission",
  ],
};

export const MECHANISMS = [NATIVE, MAINLINE] as const;

export function mechanismByCode(code: number): Mechanism | undefined {
  return MECHANISMS.find((m) => m.code === code);
}

/**
 * The seal (bpf/seal*.bpf.h): loaded and pinned
 * under progs/ at load, attached by `cgwarden seal` only, so an unsealed
 * policy costs these hooks nothing. Each hook, and why it is needed:
 */
export const SEAL_HOOKS: Record<string, { hook: string; why: string }> = {
  cgwarden_seal_bpf: { hook: "bpf_lsm_bpf", why: "every bpf(2) command: only reads are open to non-managers on cgwarden's objects, and no map-element iterator" },
  cgwarden_seal_bpf_map: { hook: "bpf_lsm_bpf_map", why: "every new fd to a map, by id or pinned path" },
  cgwarden_seal_bpf_prog: { hook: "bpf_lsm_bpf_prog", why: "new programs using cgwarden's maps or attaching to its programs; --lock-bpf" },
  cgwarden_seal_unlink: { hook: "bpf_lsm_inode_unlink", why: "unpinning: the pins keep the links and maps alive" },
  cgwarden_seal_rmdir: { hook: "bpf_lsm_inode_rmdir", why: "removing the pin directories" },
  cgwarden_seal_rename: { hook: "bpf_lsm_inode_rename", why: "moving pins out of, into or over the pin directories" },
  cgwarden_seal_umount: { hook: "bpf_lsm_sb_umount", why: "unmounting the bpffs that holds the pins, lazily too" },
  cgwarden_seal_ptrace: { hook: "bpf_lsm_ptrace_access_check", why: "ptrace, /proc/PID/mem and pidfd_getfd of a manager; a traced child of a manager is no longer one" },
  cgwarden_seal_traceme: { hook: "bpf_lsm_ptrace_traceme", why: "PTRACE_TRACEME, the other way to be traced" },
  cgwarden_seal_fork: { hook: "bpf_lsm_task_alloc", why: "marks the processes a manager forks: a manager's CLI is one of them, never an orphan PID 1 adopted" },
  cgwarden_seal_exec_env: { hook: "bpf_lsm_bprm_committed_creds", why: "a manager's cgwarden started with loader or Bun runtime overrides in its environment is no manager" },
  cgwarden_seal_knob: { hook: "bpf_lsm_file_permission", why: "writes to kernel.ftrace_enabled, which unhooks every BPF trampoline" },
  // After cgwarden_seal_bpf on the same hook, which lets only writes of `authorizations` through to it.
  cgwarden_seal_authorize: { hook: "bpf_lsm_bpf", why: "a key seal's exchange: issues challenges and verifies authorizations against the key (sleepable)" },
  cgwarden_seal_key_free: { hook: "security_key_free", why: "remembers a sealed key the kernel freed, so no later key takes its serial (fentry)" },
};
export const SEAL_PROGRAMS = Object.keys(SEAL_HOOKS);

/** The kfuncs cgwarden_seal_authorize calls (Linux 6.1 on, with CONFIG_SYSTEM_DATA_VERIFICATION). */
export const SEAL_KFUNCS = ["bpf_lookup_user_key", "bpf_key_put", "bpf_verify_pkcs7_signature"];

/** Every kernel function the seal's programs need in BTF: their hooks and their kfuncs. */
export const SEAL_REQUIRES = [...new Set([...Object.values(SEAL_HOOKS).map((h) => h.hook), ...SEAL_KFUNCS])];

/** How an attach point is written in a program's section name: lsm/inode_unlink, fentry/security_key_free. */
export const attachLabel = (hook: string): string => (hook.startsWith("bpf_lsm_") ? `lsm/${hook.slice("bpf_lsm_".length)}` : `fentry/${hook}`);

