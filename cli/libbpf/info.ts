// bpf_obj_get_info_by_fd for maps, programs and links, and pinned-object helpers.
import { ptr } from "bun:ffi";
import { cstr, lastErrno, libbpf, libc } from "./ffi.ts";
import { BpfError, check } from "./errors.ts";

const ENOENT = 2;

export function objectInfo(fd: number, size: number, what: string): Buffer {
  const buf = Buffer.alloc(size);
  const len = new Uint32Array([size]);
  check(`reading info of ${what}`, () => libbpf().bpf_obj_get_info_by_fd(fd, buf, ptr(len)));
  return buf;
}

/** Opens any pinned BPF object; null when nothing is pinned there. */
export function openPinned(path: string): number | null {
  const fd = libbpf().bpf_obj_get(cstr(path));
  if (fd >= 0) return fd;
  const errno = -fd || lastErrno();
  if (errno === ENOENT) return null;
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
}

export function linkInfo(fd: number): LinkInfo {
  const b = objectInfo(fd, 48, "link");
  return {
    linkId: b.readUInt32LE(4),
    progId: b.readUInt32LE(8),
    attachType: b.readUInt32LE(16),
    targetBtfId: b.readUInt32LE(24),
  };
}
