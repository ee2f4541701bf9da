// bpf_obj_get_info_by_fd for maps, programs and links, and pinned-object helpers.
import { ptr } from "bun:ffi";
import { cstr, lastErrno, libbpf, libc } from "./ffi.ts";
import { BpfError, check } from "./errors.ts";
import { BPF_LINK_TYPE_RAW_TRACEPOINT, Errno, Libc } from "./uapi.ts";

export function objectInfo(fd: number, size: number, what: string): Buffer {
  const buf = Buffer.alloc(size);
  const len = new Uint32Array([size]);
  check(`reading info of ${what}`, () => libbpf().bpf_obj_get_info_by_fd(fd, buf, ptr(len)));
  return buf;
}

// struct bpf_obj_get_opts (libbpf 1.0): sz, file_flags.
const OBJ_GET_OPTS_SIZE = 16;
const BPF_F_RDONLY = 1 << 3;

/**
 * Opens any pinned BPF object; null when nothing is pinned there. readOnly
 * asks for a read-only map fd, which is all a sealed policy gives anyone
 * but its managers.
 */
export function openPinned(path: string, readOnly = false): number | null {
  const opts = Buffer.alloc(OBJ_GET_OPTS_SIZE);
  opts.writeBigUInt64LE(BigInt(OBJ_GET_OPTS_SIZE), 0);
  opts.writeUInt32LE(readOnly ? BPF_F_RDONLY : 0, 8);
  const fd = libbpf().bpf_obj_get_opts(cstr(path), opts);
  if (fd >= 0) return fd;
  const errno = -fd || lastErrno();
  if (errno === Errno.ENOENT) return null;
  throw new BpfError(`opening pinned object ${path}`, errno);
}

export function closeFd(fd: number): void {
  libc().close(fd);
}

export interface LinkInfo {
  linkId: number;
  progId: number;
  attachType: number;
  targetBtfId: number;
  /** The tracepoint of a raw tracepoint link (tp_btf programs), else null. */
  tracepoint: string | null;
}

/** struct bpf_link_info: type, id, prog_id, then a union by link type from offset 16. */
export function linkInfo(fd: number): LinkInfo {
  const b = objectInfo(fd, 48, "link");
  const base = { linkId: b.readUInt32LE(4), progId: b.readUInt32LE(8) };
  if (b.readUInt32LE(0) !== BPF_LINK_TYPE_RAW_TRACEPOINT) return { ...base, attachType: b.readUInt32LE(16), targetBtfId: b.readUInt32LE(24), tracepoint: null };
  // raw_tracepoint: tp_name (a buffer we hand in) and tp_name_len.
  const name = Buffer.alloc(128);
  const info = Buffer.alloc(48);
  info.writeBigUInt64LE(BigInt(ptr(name)), 16);
  info.writeUInt32LE(name.length, 24);
  const len = new Uint32Array([info.length]);
  check("reading info of link", () => libbpf().bpf_obj_get_info_by_fd(fd, info, ptr(len)));
  return { ...base, attachType: 0, targetBtfId: 0, tracepoint: name.toString("utf8", 0, Math.max(0, name.indexOf(0))) };
}

/** Upper bound on maps one program may use (the kernel's MAX_USED_MAPS). */
const MAX_USED_MAPS = 64;

/**
 * Ids of the maps a loaded program references, from struct bpf_prog_info
 * (nr_map_ids at offset 52, map_ids pointer at 56).
 */
export function programMapIds(progId: number): number[] {
  const fd = libbpf().bpf_prog_get_fd_by_id(progId);
  if (fd < 0) throw new BpfError(`opening program ${progId}`, -fd || lastErrno());
  try {
    const ids = new Uint32Array(MAX_USED_MAPS);
    const info = Buffer.alloc(232);
    info.writeUInt32LE(MAX_USED_MAPS, 52);
    info.writeBigUInt64LE(BigInt(ptr(ids)), 56);
    const len = new Uint32Array([info.length]);
    check(`reading info of program ${progId}`, () => libbpf().bpf_obj_get_info_by_fd(fd, info, ptr(len)));
    return [...ids.subarray(0, Math.min(info.readUInt32LE(52), MAX_USED_MAPS))];
  } finally {
    closeFd(fd);
  }
}

/**
 * Attaches a loaded (pinned) LSM or tracing program to the hook it was
 * verified for; returns the link's fd.
 */
export function attachProgramFd(progFd: number, what: string): number {
  return check(`attaching ${what}`, () => libbpf().bpf_raw_tracepoint_open(null, progFd));
}

/** Pins any BPF object fd at `path`. */
export function pinFd(fd: number, path: string): void {
  check(`pinning ${path}`, () => libbpf().bpf_obj_pin(fd, cstr(path)));
}

/** A pidfd for `pid` (the key of task-storage maps from userspace), or null when it has exited. */
export function pidfdOpen(pid: number): number | null {
  const fd = Number(libc().syscall(Libc.SYS_pidfd_open, pid, 0, 0, 0, 0));
  if (fd >= 0) return fd;
  // ESRCH: it has exited. errno can also read 0 here, when the runtime ran
  // libc between the call and our read of it; that too is a process gone.
  const errno = lastErrno();
  if (errno === Errno.ESRCH || errno === 0) return null;
  throw new BpfError(`opening a pidfd for process ${pid}`, errno);
}

/** Whether a link with this id still exists (attached, or detaching). */
export function linkExists(id: number): boolean {
  const fd = libbpf().bpf_link_get_fd_by_id(id);
  if (fd >= 0) {
    closeFd(fd);
    return true;
  }
  const errno = -fd || lastErrno();
  if (errno === Errno.ENOENT) return false;
  throw new BpfError(`looking up link ${id}`, errno);
}

/** Whether a program with this id is still loaded. */
export function progExists(id: number): boolean {
  const fd = libbpf().bpf_prog_get_fd_by_id(id);
  if (fd < 0) return false;
  closeFd(fd);
  return true;
}

export interface Attachment {
  linkId: number;
  progId: number;
}

/**
 * Unpinning a link's last reference detaches it from a kernel work item, not
 * before unlink(2) returns. A link's id is freed as its release starts; the
 * program's id only once the link has let go of it, i.e. once the program is
 * off its hook. Waits for both; returns what is still there at the deadline.
 */
export async function waitDetached(all: Attachment[], timeoutMs = 10_000): Promise<Attachment[]> {
  const deadline = Date.now() + timeoutMs;
  const present = (a: Attachment) => linkExists(a.linkId) || progExists(a.progId);
  let left = all.filter(present);
  while (left.length && Date.now() < deadline) {
    await Bun.sleep(10);
    left = left.filter(present);
  }
  return left;
}
