// Where the kernel's pseudo filesystems are, and mounting the two cgwarden needs.
import { readFileSync, existsSync, mkdirSync } from "node:fs";
import { cstr, lastErrno, libc } from "../libbpf/ffi.ts";
import { describeErrno } from "../libbpf/errors.ts";
import { CliError } from "../errors.ts";

export interface Mount {
  mountPoint: string;
  fsType: string;
  source: string;
}

export function mounts(): Mount[] {
  const text = readFileSync("/proc/self/mountinfo", "utf8");
  const out: Mount[] = [];
  for (const line of text.split("\n")) {
    if (!line) continue;
    // "36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue"
    const [pre, post] = line.split(" - ");
    if (!pre || !post) continue;
    const fields = pre.split(" ");
    const [fsType, source] = post.split(" ");
    out.push({ mountPoint: unescape(fields[4] ?? ""), fsType: fsType ?? "", source: source ?? "" });
  }
  return out;
}

// mountinfo escapes space, tab, newline and backslash as octal.
function unescape(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

export function findMount(fsType: string, preferred?: string): Mount | undefined {
  const all = mounts().filter((m) => m.fsType === fsType);
  return all.find((m) => m.mountPoint === preferred) ?? all[0];
}

export function isMountedAt(path: string, fsType: string): boolean {
  return mounts().some((m) => m.mountPoint === path && m.fsType === fsType);
}

/** Mounts `fsType` at `path` unless it is there; returns true when it mounted. */
export function ensureMounted(fsType: string, path: string): boolean {
  if (isMountedAt(path, fsType)) return false;
  if (!existsSync(path)) mkdirSync(path, { recursive: true });
  const rc = libc().mount(cstr(fsType), cstr(path), cstr(fsType), 0n, null);
  if (rc !== 0) {
    const errno = lastErrno();
    throw new CliError({ problem: `cannot mount ${fsType} at ${path}: ${describeErrno(errno)}`, fix: `mount it by hand: mount -t ${fsType} ${fsType} ${path}` });
  }
  return true;
}

/** Where systemd and every distribution mount cgroup2; cgroupMount() finds it elsewhere too. */
export const CGROUP2 = "/sys/fs/cgroup";
export const BPFFS = "/sys/fs/bpf";
export const SECURITYFS = "/sys/kernel/security";
