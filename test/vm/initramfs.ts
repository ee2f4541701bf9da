// The guest's initramfs: static busybox, an /init script and the modules
// needed to reach the host over virtiofs. The guest does everything else
// from the host's own filesystem (chroot), so this stays tiny and the same
// for every command; it is cached by content hash.

import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import { cacheDir, ensureDebs, exists, sha256 } from "./util.ts";

const BUSYBOX = "/bin/busybox"; // from busybox-static: no libc needed in the guest

/** virtiofs tags the init script mounts; must match the QEMU devices. */
export const VIRTIOFS_TAG = "cgwarden";
export const VIRTIOFS_OUT_TAG = "cgwarden-out";

/** Console marker printed just before the command starts; the host uses it
 * to tell a boot failure from a command failure and to time the boot. */
export const RUNNING_MARKER = "cgwarden-guest: running";
export const FATAL_MARKER = "cgwarden-guest: FATAL:";

// Two shares: root/ (the host's / read-only, cached by the guest) and, on
// top of the first's out/, a second one (a writable per-run host temp dir
// with run.sh in, output and status out; uncached, as both sides write it).
// The command runs outside the initramfs, so it sees exactly the host's
// files; only /proc, /sys, /dev, /tmp and /run are the guest's own.
// bpffs and securityfs are deliberately NOT mounted: cgwarden must do it.
const INIT = `#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin

say() { echo "cgwarden-guest: $*" > /dev/console; }
die() {
	echo "${FATAL_MARKER} $*" > /dev/console
	poweroff -f; echo o > /proc/sysrq-trigger; sleep 5
	exit 1 # init exiting panics, and panic=-1 + -no-reboot stops QEMU
}

mount -t proc proc /proc || die "mount /proc"
mount -t sysfs sysfs /sys || die "mount /sys"
mount -t devtmpfs devtmpfs /dev || die "mount /dev"
for m in $(cat /modules.list); do
	insmod "/modules/$m" || die "insmod $m"
done
mount -t virtiofs ${VIRTIOFS_TAG} /mnt || die "mounting the virtiofs share failed"
mount -t virtiofs ${VIRTIOFS_OUT_TAG} /mnt/out || die "mounting the virtiofs out share failed"

R=/mnt/root
O=/mnt/out
[ -f "$O/run.sh" ] || die "no $O/run.sh"
mount -t proc proc "$R/proc" || die "chroot /proc"
mount -t sysfs sysfs "$R/sys" || die "chroot /sys"
# Like systemd: a pure cgroup v2 hierarchy with namespace delegation.
mount -t cgroup2 -o nsdelegate cgroup2 "$R/sys/fs/cgroup" || die "chroot cgroup2"
mount -t devtmpfs devtmpfs "$R/dev" || die "chroot /dev"
mkdir -p "$R/dev/pts" "$R/dev/shm"
mount -t devpts -o newinstance,ptmxmode=0666 devpts "$R/dev/pts" || die "chroot /dev/pts"
mount -t tmpfs -o mode=1777 tmpfs "$R/dev/shm" || die "chroot /dev/shm"
# The project (and the command's cwd) may live under /tmp or /run, which get
# fresh tmpfs mounts below: hold them aside and put them back on top.
i=0
for p in $(cat "$O/keep"); do
	mkdir -p "/keep/$i" && mount -o bind "$R$p" "/keep/$i" || die "holding $p"
	i=$((i + 1))
done
mount -t tmpfs -o mode=1777 tmpfs "$R/tmp" || die "chroot /tmp"
mount -t tmpfs -o mode=0755 tmpfs "$R/run" || die "chroot /run"
i=0
for p in $(cat "$O/keep"); do
	mkdir -p "$R$p" 2>/dev/null
	mount -o bind "/keep/$i" "$R$p" || die "restoring $p"
	i=$((i + 1))
done

# The host asks for a dump of blocked tasks and CPU backtraces by creating
# $O/dump (a guest that stalls, or nears its deadline), so that a killed
# guest says where it hung. /proc/sysrq-trigger works whatever kernel.sysrq
# allows; printk 8 puts the dump on the quiet console.
(
	while sleep 5; do
		[ -f "$O/dump" ] || continue
		rm -f "$O/dump"
		echo 8 > /proc/sys/kernel/printk
		say "dump requested by the host: blocked tasks and CPU backtraces follow"
		echo w > /proc/sysrq-trigger
		echo l > /proc/sysrq-trigger
		say "end of dump"
	done
) &
say "running (guest uptime $(cut -d' ' -f1 /proc/uptime) s)"
env -i chroot "$R" /bin/sh -c "$(cat "$O/run.sh")" </dev/null >"$O/output" 2>&1
echo $? > "$O/status.tmp"
mv "$O/status.tmp" "$O/status"
sync
say "done"
poweroff -f
echo o > /proc/sysrq-trigger
sleep 5
`;

interface Entry {
  name: string;
  mode: number;
  data?: Uint8Array;
  rdev?: [number, number];
}

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFCHR = 0o020000;

/** Minimal "newc" cpio writer: the kernel's initramfs format. Written here
 * so that building needs neither the cpio tool nor a staging directory. */
function cpio(entries: Entry[]): Uint8Array {
  const chunks: Uint8Array[] = [];
  let size = 0;
  const push = (b: Uint8Array) => {
    chunks.push(b);
    size += b.length;
  };
  const pad = () => {
    if (size % 4) push(new Uint8Array(4 - (size % 4)));
  };
  const hex = (n: number) => n.toString(16).padStart(8, "0");
  const all: Entry[] = [...entries, { name: "TRAILER!!!", mode: 0 }];
  all.forEach((e, i) => {
    const name = new TextEncoder().encode(`${e.name}\0`);
    const data = e.data ?? new Uint8Array(0);
    const fields = [
      i + 1, // ino
      e.mode,
      0, // uid
      0, // gid
      e.mode & S_IFDIR ? 2 : 1, // nlink
      0, // mtime: fixed, so the image is reproducible
      data.length,
      0, // devmajor
      0, // devminor
      e.rdev?.[0] ?? 0,
      e.rdev?.[1] ?? 0,
      name.length,
      0, // check
    ];
    push(new TextEncoder().encode(`070701${fields.map(hex).join("")}`));
    push(name);
    pad();
    push(data);
    pad();
  });
  const out = new Uint8Array(size);
  let off = 0;
  for (const c of chunks) {
    out.set(c, off);
    off += c.length;
  }
  return out;
}

/** Path of an initramfs that loads `modules` (host .ko paths, in order). */
export async function ensureInitramfs(modules: string[]): Promise<string> {
  if (!exists(BUSYBOX)) await ensureDebs(["busybox-static"]);
  const busybox = readFileSync(BUSYBOX);
  const mods = modules.map((path, i) => ({
    // Numbered so names stay unique and the listing shows the order.
    file: `${String(i).padStart(2, "0")}-${basename(path)}`,
    data: readFileSync(path),
  }));
  const key = sha256("initramfs v1", INIT, busybox, ...mods.flatMap((m) => [m.file, m.data])).slice(0, 16);
  const dir = join(cacheDir(), "initramfs");
  const path = join(dir, `${key}.cpio`);
  if (exists(path)) return path;

  const entries: Entry[] = [
    ...["bin", "dev", "proc", "sys", "mnt", "modules"].map((name) => ({ name, mode: S_IFDIR | 0o755 })),
    // init's stdio is /dev/console, opened before /init runs: it must exist.
    { name: "dev/console", mode: S_IFCHR | 0o600, rdev: [5, 1] },
    { name: "bin/busybox", mode: S_IFREG | 0o755, data: busybox },
    { name: "init", mode: S_IFREG | 0o755, data: new TextEncoder().encode(INIT) },
    { name: "modules.list", mode: S_IFREG | 0o644, data: new TextEncoder().encode(mods.map((m) => `${m.file}\n`).join("")) },
    ...mods.map((m) => ({ name: `modules/${m.file}`, mode: S_IFREG | 0o644, data: m.data })),
  ];
  mkdirSync(dir, { recursive: true });
  writeFileSync(`${path}.${process.pid}.tmp`, cpio(entries));
  renameSync(`${path}.${process.pid}.tmp`, path);
  return path;
}
