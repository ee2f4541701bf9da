// Numbers the CLI shares with the kernel and libc, each in one place: errno
// values, the <linux/bpf.h> and <linux/btf.h> enums it passes or reads back,
// and the few open/flock/syscall constants of the libc calls in ffi.ts.
// test/unit/layout.test.ts holds every one to the system's headers.

export const Errno = { EPERM: 1, ENOENT: 2, ESRCH: 3, EINTR: 4, E2BIG: 7, EINVAL: 22, ENOKEY: 126, EKEYEXPIRED: 127, EKEYREJECTED: 129 } as const;

/** enum bpf_map_type: the kinds of map the object creates. */
export const BpfMapType = {
  BPF_MAP_TYPE_HASH: 1,
  BPF_MAP_TYPE_ARRAY: 2,
  BPF_MAP_TYPE_PERCPU_ARRAY: 6,
  BPF_MAP_TYPE_LRU_HASH: 9,
  BPF_MAP_TYPE_ARRAY_OF_MAPS: 12,
  BPF_MAP_TYPE_RINGBUF: 27,
  BPF_MAP_TYPE_TASK_STORAGE: 29,
} as const;

/** enum bpf_attach_type: those of the object's tracing and LSM links. */
export const BpfAttachType = { BPF_TRACE_FENTRY: 24, BPF_TRACE_FEXIT: 25, BPF_LSM_MAC: 27 } as const;

/** enum bpf_cmd, in order: how a refused bpf(2) command is named in the audit (BPF_TOKEN_CREATE is 6.9's). */
export const BPF_COMMANDS = [
  "BPF_MAP_CREATE", "BPF_MAP_LOOKUP_ELEM", "BPF_MAP_UPDATE_ELEM", "BPF_MAP_DELETE_ELEM", "BPF_MAP_GET_NEXT_KEY",
  "BPF_PROG_LOAD", "BPF_OBJ_PIN", "BPF_OBJ_GET", "BPF_PROG_ATTACH", "BPF_PROG_DETACH", "BPF_PROG_TEST_RUN",
  "BPF_PROG_GET_NEXT_ID", "BPF_MAP_GET_NEXT_ID", "BPF_PROG_GET_FD_BY_ID", "BPF_MAP_GET_FD_BY_ID",
  "BPF_OBJ_GET_INFO_BY_FD", "BPF_PROG_QUERY", "BPF_RAW_TRACEPOINT_OPEN", "BPF_BTF_LOAD", "BPF_BTF_GET_FD_BY_ID",
  "BPF_TASK_FD_QUERY", "BPF_MAP_LOOKUP_AND_DELETE_ELEM", "BPF_MAP_FREEZE", "BPF_BTF_GET_NEXT_ID",
  "BPF_MAP_LOOKUP_BATCH", "BPF_MAP_LOOKUP_AND_DELETE_BATCH", "BPF_MAP_UPDATE_BATCH", "BPF_MAP_DELETE_BATCH",
  "BPF_LINK_CREATE", "BPF_LINK_UPDATE", "BPF_LINK_GET_FD_BY_ID", "BPF_LINK_GET_NEXT_ID", "BPF_ENABLE_STATS",
  "BPF_ITER_CREATE", "BPF_LINK_DETACH", "BPF_PROG_BIND_MAP", "BPF_TOKEN_CREATE",
] as const;

/** enum bpf_link_type: tp_btf programs' links. */
export const BPF_LINK_TYPE_RAW_TRACEPOINT = 1;
/** Map update flag: create or replace. */
export const BPF_ANY = 0n;
/** BTF kind of a function, to find kernel functions by name. */
export const BTF_KIND_FUNC = 12;
/** <linux/btf.h> kinds a function's signature is spelt in (libbpf/btf.ts renders them). */
export const BtfKind = {
  BTF_KIND_INT: 1, BTF_KIND_PTR: 2, BTF_KIND_STRUCT: 4, BTF_KIND_UNION: 5, BTF_KIND_ENUM: 6, BTF_KIND_FWD: 7,
  BTF_KIND_TYPEDEF: 8, BTF_KIND_VOLATILE: 9, BTF_KIND_CONST: 10, BTF_KIND_RESTRICT: 11, BTF_KIND_FUNC_PROTO: 13,
  BTF_KIND_TYPE_TAG: 18, BTF_KIND_ENUM64: 19,
} as const;

/** <fcntl.h>, <sys/file.h>, <sys/syscall.h> on x86-64. */
export const Libc = { O_RDONLY: 0, O_DIRECTORY: 0o200000, O_CLOEXEC: 0o2000000, LOCK_EX: 2, SYS_pidfd_open: 434, SYS_add_key: 248, SYS_keyctl: 250 } as const;

/** <linux/keyctl.h>: the keyctl(2) operations and special keyring ids the key seal uses. */
export const Keyctl = { KEY_SPEC_USER_KEYRING: -4, KEYCTL_SETPERM: 5, KEYCTL_UNLINK: 9 } as const;
