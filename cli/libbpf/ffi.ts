// The one dlopen table of the project: libbpf.so.1 and the few libc calls that
// libbpf's API needs beside it, plus syscall() for what libc has no wrapper
// for (pidfd_open, add_key, keyctl). Nothing outside cli/libbpf/ touches bun:ffi.
import { dlopen, toArrayBuffer, type Pointer } from "bun:ffi";
import { CliError, EXIT_RUNTIME } from "../errors.ts";

const libbpfSymbols = {
  libbpf_set_print: { args: ["ptr"], returns: "ptr" },
  libbpf_strerror: { args: ["i32", "ptr", "u64"], returns: "i32" },

  bpf_object__open_mem: { args: ["ptr", "u64", "ptr"], returns: "ptr" },
  bpf_object__load: { args: ["ptr"], returns: "i32" },
  bpf_object__close: { args: ["ptr"], returns: "void" },
  bpf_object__next_program: { args: ["ptr", "ptr"], returns: "ptr" },
  bpf_object__next_map: { args: ["ptr", "ptr"], returns: "ptr" },

  bpf_program__name: { args: ["ptr"], returns: "cstring" },
  bpf_program__section_name: { args: ["ptr"], returns: "cstring" },
  bpf_program__set_autoload: { args: ["ptr", "bool"], returns: "i32" },
  bpf_program__fd: { args: ["ptr"], returns: "i32" },
  bpf_program__attach: { args: ["ptr"], returns: "ptr" },

  bpf_map__name: { args: ["ptr"], returns: "cstring" },
  bpf_map__fd: { args: ["ptr"], returns: "i32" },
  bpf_map__set_max_entries: { args: ["ptr", "u32"], returns: "i32" },

  bpf_link__pin: { args: ["ptr", "ptr"], returns: "i32" },
  bpf_link__fd: { args: ["ptr"], returns: "i32" },
  bpf_link__destroy: { args: ["ptr"], returns: "i32" },

  bpf_obj_pin: { args: ["i32", "ptr"], returns: "i32" },
  bpf_obj_get: { args: ["ptr"], returns: "i32" },
  bpf_obj_get_opts: { args: ["ptr", "ptr"], returns: "i32" },
  bpf_raw_tracepoint_open: { args: ["ptr", "i32"], returns: "i32" },
  bpf_obj_get_info_by_fd: { args: ["i32", "ptr", "ptr"], returns: "i32" },
  bpf_prog_get_fd_by_id: { args: ["u32"], returns: "i32" },
  bpf_link_get_fd_by_id: { args: ["u32"], returns: "i32" },
  bpf_map_lookup_elem: { args: ["i32", "ptr", "ptr"], returns: "i32" },
  bpf_map_update_elem: { args: ["i32", "ptr", "ptr", "u64"], returns: "i32" },
  bpf_map_delete_elem: { args: ["i32", "ptr"], returns: "i32" },
  bpf_map_get_next_key: { args: ["i32", "ptr", "ptr"], returns: "i32" },
  bpf_map_update_batch: { args: ["i32", "ptr", "ptr", "ptr", "ptr"], returns: "i32" },
  bpf_map_delete_batch: { args: ["i32", "ptr", "ptr", "ptr"], returns: "i32" },
  bpf_map_lookup_batch: { args: ["i32", "ptr", "ptr", "ptr", "ptr", "ptr", "ptr"], returns: "i32" },

  ring_buffer__new: { args: ["i32", "ptr", "ptr", "ptr"], returns: "ptr" },
  ring_buffer__poll: { args: ["ptr", "i32"], returns: "i32" },
  ring_buffer__free: { args: ["ptr"], returns: "void" },

  btf__load_vmlinux_btf: { args: [], returns: "ptr" },
  btf__new: { args: ["ptr", "u32"], returns: "ptr" },
  btf__find_by_name_kind: { args: ["ptr", "ptr", "u32"], returns: "i32" },
  btf__type_by_id: { args: ["ptr", "u32"], returns: "ptr" },
  btf__name_by_offset: { args: ["ptr", "u32"], returns: "cstring" },
  btf__free: { args: ["ptr"], returns: "void" },
} as const;

const libcSymbols = {
  __errno_location: { args: [], returns: "ptr" },
  vsnprintf: { args: ["ptr", "u64", "ptr", "ptr"], returns: "i32" },
  open: { args: ["ptr", "i32", "u32"], returns: "i32" },
  close: { args: ["i32"], returns: "i32" },
  flock: { args: ["i32", "i32"], returns: "i32" },
  mount: { args: ["ptr", "ptr", "ptr", "u64", "ptr"], returns: "i32" },
  // Six arguments, the most a Linux syscall takes; callers pass 0 for the unused ones.
  syscall: { args: ["i64", "i64", "i64", "i64", "i64", "i64"], returns: "i64" },
  // A file's inode generation (cli/kernel/inode.ts).
  fstatfs: { args: ["i32", "ptr"], returns: "i32" },
  ioctl: { args: ["i32", "u64", "ptr"], returns: "i32" },
  name_to_handle_at: { args: ["i32", "ptr", "ptr", "ptr", "i32"], returns: "i32" },
} as const;

type Libbpf = ReturnType<typeof dlopen<typeof libbpfSymbols>>["symbols"];
type Libc = ReturnType<typeof dlopen<typeof libcSymbols>>["symbols"];

let libbpfCache: Libbpf | undefined;
let libcCache: Libc | undefined;

export const LIBBPF_SONAME = "libbpf.so.1";

export function libbpf(): Libbpf {
  if (!libbpfCache) {
    try {
      libbpfCache = dlopen(process.env.CGWARDEN_LIBBPF ?? LIBBPF_SONAME, libbpfSymbols).symbols;
    } catch (e) {
      throw new CliError(
        `cannot load ${LIBBPF_SONAME} (${(e as Error).message.split("\n")[0]}); install it with: apt-get install libbpf1`,
        EXIT_RUNTIME,
      );
    }
  }
  return libbpfCache;
}

export function libc(): Libc {
  libcCache ??= dlopen("libc.so.6", libcSymbols).symbols;
  return libcCache;
}

/** errno of the last failed libc or libbpf call on this thread; read it before any other call. */
export function lastErrno(): number {
  const loc = libc().__errno_location();
  if (!loc) return 0;
  return new Int32Array(toArrayBuffer(loc, 4))[0] ?? 0;
}

export function cstr(s: string): Buffer {
  return Buffer.from(`${s}\0`, "utf8");
}

export type { Pointer };
