// A file's identity as the kernel compares it: device, inode number, and the
// inode's generation. Device and inode number alone come back: unmount a
// tmpfs, mount a new one, create files in the same order, and a new file
// sits at the old (dev, ino). The generation is the filesystem's own answer
// to that (NFS file handles rely on it): a random or ever-growing number
// each new inode gets. The seal's programs read inode->i_generation at
// exec; this reads the same number from userspace, where the filesystem
// lets it be read, and says so where it does not.
import { closeSync, fstatSync, readFileSync } from "node:fs";
import { cstr, lastErrno, libc } from "../libbpf/ffi.ts";
import { describeErrno } from "../libbpf/errors.ts";
import { Libc } from "../libbpf/uapi.ts";
import { CliError } from "../errors.ts";

export interface FileIdentity {
  dev: bigint;
  ino: bigint;
  /** inode->i_generation; null where this filesystem gives no way to read it. */
  gen: number | null;
  /** The filesystem's type, as /proc/self/mountinfo names it. */
  fsType: string;
}

/**
 * Filesystems whose every new inode gets a new generation from the kernel,
 * by f_type, and how userspace reads it. FS_IOC_GETVERSION returns
 * inode->i_generation on ext2/3/4, xfs, btrfs and f2fs; tmpfs has no such
 * ioctl, but its file handle starts with the generation (shmem_encode_fh).
 * Anything else (FUSE and virtiofs, 9p, NFS, overlayfs, ramfs, squashfs)
 * either has no generation or one its server makes up.
 */
const GENERATION_FROM = new Map<number, "ioctl" | "tmpfs-handle">([
  [0xef53, "ioctl"], // ext2, ext3, ext4
  [0x58465342, "ioctl"], // xfs
  [0x9123683e, "ioctl"], // btrfs
  [0xf2f52010, "ioctl"], // f2fs
  [0x01021994, "tmpfs-handle"], // tmpfs
]);

/** The filesystems GENERATION_FROM trusts, for messages. */
export const GENERATION_FILESYSTEMS = "ext4, xfs, btrfs, f2fs or tmpfs";

const FS_IOC_GETVERSION = 0x80087601n; // _IOR('v', 1, long)
const AT_EMPTY_PATH = 0x1000;
const MAX_HANDLE_SZ = 128;
/** shmem_encode_fh(): type 1, three words: generation, inode low, inode high. */
const TMPFS_HANDLE = { type: 1, bytes: 12 };

/** The identity of the file `path` leads to (symlinks followed, /proc/PID/exe included). */
export function fileIdentity(path: string): FileIdentity {
  const fd = libc().open(cstr(path), Libc.O_RDONLY | Libc.O_CLOEXEC, 0);
  if (fd < 0) throw new CliError(`cannot open ${path} to identify it: ${describeErrno(lastErrno())}`);
  try {
    const st = fstatSync(fd, { bigint: true });
    return { dev: st.dev, ino: st.ino, gen: generation(fd, st.ino), fsType: fsTypeOf(st.dev) };
  } finally {
    closeSync(fd);
  }
}

function generation(fd: number, ino: bigint): number | null {
  const statfs = Buffer.alloc(120); // struct statfs; f_type is its first word
  if (libc().fstatfs(fd, statfs) !== 0) return null;
  const how = GENERATION_FROM.get(Number(statfs.readBigUInt64LE(0) & 0xffffffffn));
  if (how === "ioctl") {
    const out = Buffer.alloc(8);
    return libc().ioctl(fd, FS_IOC_GETVERSION, out) === 0 ? out.readUInt32LE(0) : null;
  }
  if (how === "tmpfs-handle") {
    const handle = Buffer.alloc(8 + MAX_HANDLE_SZ); // struct file_handle: handle_bytes, handle_type, f_handle[]
    handle.writeUInt32LE(MAX_HANDLE_SZ, 0);
    const mountId = Buffer.alloc(4);
    if (libc().name_to_handle_at(fd, cstr(""), handle, mountId, AT_EMPTY_PATH) !== 0) return null;
    if (handle.readUInt32LE(0) !== TMPFS_HANDLE.bytes || handle.readInt32LE(4) !== TMPFS_HANDLE.type) return null;
    const handleIno = BigInt(handle.readUInt32LE(12)) | (BigInt(handle.readUInt32LE(16)) << 32n);
    return handleIno === ino ? handle.readUInt32LE(8) : null; // a layout this file does not know: no answer
  }
  return null;
}

/** mountinfo's "major:minor" is st_dev decoded as glibc's gnu_dev_major/minor do. */
function fsTypeOf(dev: bigint): string {
  const major = ((dev >> 8n) & 0xfffn) | ((dev >> 32n) & ~0xfffn);
  const minor = (dev & 0xffn) | ((dev >> 12n) & ~0xffn);
  const want = `${major}:${minor}`;
  for (const line of readFileSync("/proc/self/mountinfo", "utf8").split("\n")) {
    const [pre, post] = line.split(" - ");
    if (pre?.split(" ")[2] === want) return post?.split(" ")[0] ?? "unknown";
  }
  return "unknown";
}

/**
 * The identity of a file the seal trusts as it is (a manager executable, or
 * cgwarden's own binary): refused where its generation cannot be read, since
 * a remount could then put another file at its (dev, ino).
 */
export function provenIdentity(path: string, what: string): FileIdentity & { gen: number } {
  const id = fileIdentity(path);
  if (id.gen === null)
    throw new CliError(
      `${what} is on ${id.fsType}, whose inodes carry no generation cgwarden can read, so after a remount another file could take its device and inode number; put it on ${GENERATION_FILESYSTEMS}`,
    );
  return { ...id, gen: id.gen };
}
