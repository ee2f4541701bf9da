// Numbers the CLI shares with the kernel and libc, each in one place: errno
// values, the <linux/bpf.h> and <linux/btf.h> enums it passes or reads back,
// and the few open/flock/syscall constants of the libc calls in ffi.ts.
// test/unit/layout.test.ts holds every one to the system's headers.

export const Errno = { EPERM: 1, ENOENT: 2, ESRCH: 3, EINTR: 4, E2BIG: 7 } as const;

/** enum bpf_map_type: the kinds of map the object creates. */
export const BpfMapType = {
  BPF_MAP_TYPE_HASH: 1,
  BPF_MAP_TYPE_ARRAY: 2,
  BPF_MAP_TYPE_PERCPU_ARRAY: 6,
  BPF_MAP_TYPE_ARRAY_OF_MAPS: 12,
  BPF_MAP_TYPE_RINGBUF: 27,
  BPF_MAP_TYPE_TASK_STORAGE: 29,
} as const;

/** enum bpf_attach_type: those of the object's tracing and LSM links. */
export const BpfAttachType = { BPF_TRACE_FENTRY: 24, BPF_TRACE_FEXIT: 25, BPF_LSM_MAC: 27 } as const;

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
export const Libc = { O_RDONLY: 0, O_DIRECTORY: 0o200000, O_CLOEXEC: 0o2000000, LOCK_EX: 2, SYS_pidfd_open: 434 } as const;
