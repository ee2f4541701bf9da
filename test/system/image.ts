#!/usr/bin/env bun
// A Debian 12 system image with systemd as PID 1, for tests that need "a
// real Debian machine" rather than test/vm's busybox-plus-chroot guest:
// units, logind sessions, su, crun, the distribution's own initramfs.
// Built with mmdebstrap, cached outside the repo keyed by what went in.
//   bun test/system/image.ts        # build (or find) the image, print its paths

import { copyFileSync, mkdirSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ensureDebianKernel } from "../vm/debian-kernel.ts";
import { cacheDir, ensureDebs, exists, progress, sha256, withLock } from "../vm/util.ts";
import { runOkAsync, spawnAsync } from "../../scripts/project.ts";

/** Bump when the build steps below change in a way that alters the image. */
const RECIPE = "system image recipe 4";

const SUITE = "bookworm";

// minbase is essential + apt; everything else is named, so the key says
// what is in the image.
const PACKAGES = [
  "systemd", "systemd-sysv", "dbus", "libpam-systemd", "udev", "kmod",
  "login", "passwd", "util-linux", "procps", "iproute2",
  "libbpf1", "bpftool", "crun", "busybox-static", "cgroup-tools",
  // Root on /dev/vda: the initramfs (built in the image by its own
  // initramfs-tools), zstd for its default compression, fsck for ext4.
  "initramfs-tools", "zstd", "e2fsprogs",
  // dracut's generator without the "dracut" package's kernel hooks (that
  // one conflicts with initramfs-tools): installed.ts makes a second
  // initramfs per kernel with it, cgwarden's dracut module included.
  "dracut-core",
  // What an admin's server runs: SSH logins (over loopback, a key for root
  // made at build) and containers (podman with the systemd cgroup manager,
  // crun; a local image made from busybox, no registry).
  "openssh-server", "openssh-client", "podman",
  // What Ansible needs on a machine it manages (the fleet scenario, fleet.ts):
  // python3, and python3-apt for the apt module that installs the package.
  "python3", "python3-apt",
  // The key seal's signer (the keyed boot signs with a test key on the machine itself).
  "openssl",
];

/** Same specs as test/vm/kernels.ts, so both harnesses test the same kernels. */
const KERNELS = {
  "debian-6.1": { metapackage: "linux-image-cloud-amd64", searchRegex: "^linux-image-6\\.1\\.0-[0-9]+-cloud-amd64-unsigned$" },
  "debian-6.12": { metapackage: "linux-image-6.12-cloud-amd64", searchRegex: "^linux-image-6\\.12\\.[0-9]+\\+deb12-cloud-amd64-unsigned$" },
} as const;
export type ImageKernelName = keyof typeof KERNELS;
export const IMAGE_KERNELS = Object.keys(KERNELS) as ImageKernelName[];

/** virtiofs tags the guest mounts; must match boot.ts's QEMU devices. */
export const SHARE_TAG = "cgwarden";
export const OUT_SHARE_TAG = "cgwarden-out";
export const RUNNING_MARKER = "cgwarden-system: running";
export const FATAL_MARKER = "cgwarden-system: FATAL:";

// Started by multi-user.target but Type=exec, so it does not hold up boot:
// the command itself may wait with `systemctl is-system-running --wait`.
const RUN_UNIT = `[Unit]
Description=cgwarden test command from the host share
After=basic.target

[Service]
Type=exec
ExecStart=/usr/local/sbin/cgwarden-run
StandardOutput=journal+console
StandardError=journal+console

[Install]
WantedBy=multi-user.target
`;

// The share holds project/ (the host's project, read-only, mounted here at
// the host's path so commands run the very same files; cached) and out/, a
// second share mounted on it (run.sh in; output, status and journal out;
// uncached). status is written last, by rename:
// its presence means the rest is complete.
const RUN_SCRIPT = `#!/bin/sh
say() { echo "cgwarden-system: $*" > /dev/console; }
die() { say "FATAL: $*"; systemctl poweroff --force; exit 1; }
modprobe -q virtiofs # a module on the 6.1 cloud kernel, built in elsewhere
S=/run/cgwarden-share
mkdir -p $S && mount -t virtiofs ${SHARE_TAG} $S || die "mounting the virtiofs share failed"
O=$S/out
mount -t virtiofs ${OUT_SHARE_TAG} $O || die "mounting the virtiofs out share failed"
P=$(cat $O/project) || die "no $O/project"
mkdir -p "$P" && mount --bind -o ro $S/project "$P" || die "binding the project at $P"
say "running (uptime $(cut -d' ' -f1 /proc/uptime) s)"
env -i sh $O/run.sh </dev/null >$O/output 2>&1
echo $? > $O/status.tmp
journalctl -b --no-pager > $O/journal 2>&1
mv $O/status.tmp $O/status
say "done"
# Results are already on the host (virtiofs, cache=none) and the disk is a
# -snapshot: nothing to shut down cleanly.
systemctl poweroff --force
`;

// A kernel with everything the root disk needs built in (hook-6.12 is
// MODULES=n) boots without an initramfs; this one is for when it should go
// the same way as Debian's kernels (fsck in the initramfs, same /init).
// mkinitramfs wants a modules directory and the kernel's config (to pick a
// compression it can unpack): an empty directory under a made-up release,
// so the result holds no modules and suits any such kernel, and a config
// that claims only gzip, which every kernel with an initramfs has.
export const builtinInitrdScript = (out: string): string =>
  [
    "set -e",
    "mkdir /lib/modules/0.0-builtin",
    "touch /lib/modules/0.0-builtin/modules.builtin /lib/modules/0.0-builtin/modules.order",
    "echo CONFIG_RD_GZIP=y > /boot/config-0.0-builtin",
    `mkinitramfs -c gzip -o ${out} 0.0-builtin`,
    "rm -r /lib/modules/0.0-builtin /boot/config-0.0-builtin",
  ].join("; ");
const BUILTIN_INITRD = builtinInitrdScript("/boot/initrd.img-builtin");

export interface SystemImage {
  /** Raw ext4 filesystem image (no partition table): root=/dev/vda. */
  disk: string;
  /** Per kernel: the image's own /boot files, copied out for -kernel/-initrd. */
  kernels: Record<ImageKernelName, { release: string; vmlinuz: string; initrd: string; package: string }>;
  /** Module-less initramfs from the image's initramfs-tools, for kernels with virtio/ext4 built in. */
  builtinInitrd: string;
}

interface KernelDeb {
  name: ImageKernelName;
  package: string;
  version: string;
  deb: string;
}

/** The .deb files themselves (test/vm keeps only their unpacked trees). */
async function kernelDebs(): Promise<KernelDeb[]> {
  const out: KernelDeb[] = [];
  const dir = join(cacheDir(), "system", "debs");
  mkdirSync(dir, { recursive: true });
  for (const name of IMAGE_KERNELS) {
    // Resolves (and caches for test/vm) the same package test/vm boots.
    const k = await ensureDebianKernel(KERNELS[name]);
    const file = `${k.package}_${k.version.replace(/:/g, "%3a")}_amd64.deb`;
    const deb = join(dir, file);
    if (!exists(deb)) {
      progress(`downloading ${k.package}=${k.version}`);
      await runOkAsync(["apt-get", "download", `${k.package}=${k.version}`], { cwd: dir });
      if (!exists(deb)) throw new Error(`apt-get download produced no ${file} in ${dir}`);
    }
    out.push({ name, package: k.package, version: k.version, deb });
  }
  return out;
}

export async function ensureSystemImage(): Promise<SystemImage> {
  const debs = await kernelDebs();
  const key = sha256(RECIPE, SUITE, PACKAGES.join(" "), RUN_UNIT, RUN_SCRIPT, BUILTIN_INITRD, STORAGE_CONF, IMAGE_SETUP, ...debs.map((d) => `${d.package}=${d.version}`)).slice(0, 16);
  const root = join(cacheDir(), "system");
  const dir = join(root, key);
  const manifest = join(dir, "image.json");
  if (!exists(manifest)) {
    await withLock(join(root, "build.lock"), "the system image build", async () => {
      if (!exists(manifest)) await build(dir, debs);
    });
  }
  return (await Bun.file(manifest).json()) as SystemImage;
}

async function build(dir: string, debs: KernelDeb[]): Promise<void> {
  await ensureDebs(["mmdebstrap", "e2fsprogs"]);
  const started = Date.now();
  const tmp = `${dir}.tmp`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  const tree = join(tmp, "rootfs");
  const log = join(tmp, "build.log");
  progress(`building the system image in ${tmp} (log: ${log})`);

  await runOkAsync(
    [
      "mmdebstrap", "--mode=root", "--variant=minbase", `--include=${PACKAGES.join(",")}`,
      // Given as files, the kernels are installed by dpkg inside the image,
      // so its postinst runs the image's initramfs-tools for each of them.
      ...debs.map((d) => `--include=${d.deb}`),
      // Before the kernels go in: their initramfs should fsck the root
      // like an installed system's, and mkinitramfs cannot probe a device
      // from the chroot, so it is told the type.
      `--setup-hook=printf '/dev/vda / ext4 errors=remount-ro 0 1\\n' > "$1/etc/fstab"`,
      `--setup-hook=mkdir -p "$1/etc/initramfs-tools/conf.d" && echo FSTYPE=ext4 > "$1/etc/initramfs-tools/conf.d/cgwarden"`,
      // dpkg runs chrooted: it needs the .deb paths bound inside.
      "--hook-dir=/usr/share/mmdebstrap/hooks/file-mirror-automount",
      `--customize-hook=chroot "$1" sh -c '${BUILTIN_INITRD}'`,
      ...["doc", "man", "locale"].map((d) => `--dpkgopt=path-exclude=/usr/share/${d}/*`),
      SUITE, tree,
    ],
    { logFile: log },
  );
  customize(tree);
  await runOkAsync(["chroot", tree, "sh", "-c", IMAGE_SETUP], { logFile: log });
  await runOkAsync(["chroot", tree, "passwd", "--delete", "root"], { logFile: log }); // serial console login, for debugging

  const boot = join(tmp, "boot");
  mkdirSync(boot);
  const kernels = {} as SystemImage["kernels"];
  for (const d of debs) {
    const release = d.package.replace(/^linux-image-/, "").replace(/-unsigned$/, "");
    const vmlinuz = join(boot, `vmlinuz-${release}`);
    const initrd = join(boot, `initrd.img-${release}`);
    copyFileSync(join(tree, "boot", `vmlinuz-${release}`), vmlinuz);
    copyFileSync(join(tree, "boot", `initrd.img-${release}`), initrd);
    kernels[d.name] = { release, vmlinuz: vmlinuz.replace(tmp, dir), initrd: initrd.replace(tmp, dir), package: `${d.package} ${d.version}` };
  }

  copyFileSync(join(tree, "boot", "initrd.img-builtin"), join(boot, "initrd.img-builtin"));

  // Room for what tests write (under -snapshot it never reaches this file).
  const usedMiB = Number((await runOkAsync(["du", "-sm", "--apparent-size", tree])).split("\t")[0]);
  const sizeMiB = Math.ceil(usedMiB * 1.3) + 1024;
  const disk = join(tmp, "rootfs.ext4");
  await runOkAsync(["mkfs.ext4", "-q", "-L", "cgwarden-root", "-d", tree, disk, `${sizeMiB}M`], { logFile: log });
  rmSync(tree, { recursive: true, force: true });

  const image: SystemImage = { disk: join(dir, "rootfs.ext4"), kernels, builtinInitrd: join(dir, "boot", "initrd.img-builtin") };
  writeFileSync(join(tmp, "image.json"), `${JSON.stringify(image, null, 2)}\n`);
  rmSync(dir, { recursive: true, force: true });
  renameSync(tmp, dir);
  progress(`system image built in ${((Date.now() - started) / 1000).toFixed(0)} s: ${image.disk}`);
}

// podman's storage on the test disk: vfs needs no overlay module (the hook
// kernel has no modules) and no fuse-overlayfs.
const STORAGE_CONF = `[storage]
driver = "vfs"
runroot = "/run/containers/storage"
graphroot = "/var/lib/containers/storage"
`;

/** The container image's root: busybox and nothing else, imported by the tests with `podman import`. */
export const MINI_IMAGE_TAR = "/var/lib/cgw-mini.tar";

function customize(tree: string): void {
  writeFileSync(join(tree, "etc/hostname"), "cgwarden-system\n");
  writeFileSync(join(tree, "etc/hosts"), "127.0.0.1 localhost\n127.0.1.1 cgwarden-system\n");
  // A fixed id: an empty one makes every boot a "first boot" (preset-all).
  writeFileSync(join(tree, "etc/machine-id"), `${sha256("cgwarden-system").slice(0, 32)}\n`);
  writeFileSync(join(tree, "usr/local/sbin/cgwarden-run"), RUN_SCRIPT, { mode: 0o755 });
  writeFileSync(join(tree, "etc/systemd/system/cgwarden-run.service"), RUN_UNIT);
  const wants = join(tree, "etc/systemd/system/multi-user.target.wants");
  mkdirSync(wants, { recursive: true });
  symlinkSync("/etc/systemd/system/cgwarden-run.service", join(wants, "cgwarden-run.service"));
  mkdirSync(join(tree, "etc/containers"), { recursive: true });
  writeFileSync(join(tree, "etc/containers/storage.conf"), STORAGE_CONF);
}

/** Root's SSH key (logins over loopback) and the container image's tarball, made inside the image. */
const IMAGE_SETUP = [
  "set -e",
  "mkdir -p -m 700 /root/.ssh",
  "ssh-keygen -q -t ed25519 -N '' -f /root/.ssh/id_ed25519",
  "cp /root/.ssh/id_ed25519.pub /root/.ssh/authorized_keys",
  "printf 'Host localhost 127.0.0.1\\n  StrictHostKeyChecking no\\n  UserKnownHostsFile /dev/null\\n  LogLevel ERROR\\n  BatchMode yes\\n' > /root/.ssh/config",
  "d=$(mktemp -d) && mkdir -p $d/bin $d/proc $d/sys $d/dev $d/tmp && cp /bin/busybox $d/bin/ && ln -s busybox $d/bin/sh",
  `tar -C $d -cf ${MINI_IMAGE_TAR} . && rm -r $d`,
].join("; ");

if (import.meta.main) {
  const t0 = Date.now();
  const image = await ensureSystemImage();
  const mib = (p: string) => (statSync(p).size / 2 ** 20).toFixed(0);
  const used = (await spawnAsync(["du", "-m", image.disk])).out.split("\t")[0];
  console.log(`disk ${image.disk} (${mib(image.disk)} MiB apparent, ${used} MiB on disk)`);
  for (const [name, k] of Object.entries(image.kernels)) {
    console.log(`${name}: ${k.package}\n  ${k.vmlinuz} (${mib(k.vmlinuz)} MiB)\n  ${k.initrd} (${mib(k.initrd)} MiB)`);
  }
  console.log(`module-less initramfs: ${image.builtinInitrd} (${mib(image.builtinInitrd)} MiB)`);
  console.log(`ready in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
}
