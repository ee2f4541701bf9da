#!/usr/bin/env bun
// The system image with cgwarden installed the way an admin installs it:
// `apt install ./cgwarden_VERSION_amd64.deb` (scripts/deb.ts), offline, which
// ships the policy /etc/cgwarden/policy.toml, enables cgwarden.service, and
// through its trigger has the image's own initramfs-tools rebuild every
// initramfs (with cgwarden's hook) so the policy is in force before PID 1
// starts. Done on the host, natively, through a loop mount and chroot:
// the same commands in a TCG guest would take minutes. Cached beside the
// system image, keyed by the binary and everything written here.
//   bun test/system/installed.ts        # build (or find) it, print its paths
import { copyFileSync, lstatSync, mkdirSync, readlinkSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { cacheDir, exists, progress, sha256, withLock } from "../vm/util.ts";
import { builtinInitrdScript, ensureSystemImage, IMAGE_KERNELS, type ImageKernelName } from "./image.ts";
import { DRACUT_CARRIES, INITRAMFS_TOOLS_CARRIES, KEYED, MOVER_ATTEMPTS, PURGED_LIST } from "./footprint.ts";
import { buildDeb, debianVersion } from "../../scripts/deb.ts";
import pkg from "../../package.json" with { type: "json" };
import { ROOT, runOkAsync } from "../../scripts/project.ts";

/** Bump when the steps below change. */
const RECIPE = "installed image recipe 5";
/** What makes the package besides the binary: in the cache key. */
const PACKAGING = [join(ROOT, "scripts/deb.ts"), ...readdirSync(join(ROOT, "packaging/debian")).map((f) => join(ROOT, "packaging/debian", f))];
const BINARY = join(ROOT, "dist/cgwarden");
/** The policy the package ships: the machine boots with exactly this file. */
const POLICY = join(ROOT, "examples/services-stay-put.toml");
/**
 * The sealed variant adds a seal whose manager is PID 1's binary: applied
 * from the initramfs, where that path is only reachable under the real
 * root, and in force before PID 1 starts.
 */
const SEAL = `\n[seal]\nmanagers = ["/usr/lib/systemd/systemd"]\n`;

/**
 * The keyed variant: a key seal, every policy file signed by its key, the
 * initramfs made from those; then root edits policy.toml (drops the seal),
 * as root may, and cannot sign the result.
 */
const KEY_SEAL = `\n[seal]\nkey = "${KEYED.cert}"\n`;

/**
 * A service that exists from the first moments of boot, before
 * cgwarden.service runs, and a mover that tries to take it out of its
 * cgroup from then on, for the boot's first 60 seconds and at least
 * MOVER_ATTEMPTS times: only a policy already in force from the initramfs
 * holds it.
 */
const VICTIM_UNIT = `[Unit]
Description=cgwarden test: a service that must stay in its cgroup from the start of boot
DefaultDependencies=no
Before=cgwarden.service sysinit.target

[Service]
ExecStart=/bin/sleep infinity

[Install]
WantedBy=sysinit.target
`;
const MOVER_UNIT = `[Unit]
Description=cgwarden test: try to move cgw-victim.service out, from early in boot
DefaultDependencies=no
Before=cgwarden.service sysinit.target

[Service]
Type=exec
ExecStart=/usr/local/sbin/cgw-early-mover

[Install]
WantedBy=sysinit.target
`;
// Monotonic seconds on every line, to compare with cgwarden.service's start.
// Until uptime 60 s and at least MOVER_ATTEMPTS attempts (a boot on a loaded
// host can reach 60 s having tried only twice), but never past uptime 240 s.
const MOVER_SCRIPT = `#!/bin/sh
log=/run/cgw-early-mover.log
attempts=0 moved=0
: > $log
up() { cut -d' ' -f1 /proc/uptime | cut -d. -f1; }
while [ "$(up)" -lt 60 ] || { [ $attempts -lt ${MOVER_ATTEMPTS} ] && [ "$(up)" -lt 240 ]; }; do
	pid=$(systemctl show -P MainPID cgw-victim.service 2>/dev/null)
	if [ -n "$pid" ] && [ "$pid" -gt 0 ]; then
		attempts=$((attempts + 1))
		if echo "$pid" > /sys/fs/cgroup/cgroup.procs 2>/dev/null; then
			moved=$((moved + 1))
			echo "MOVED $(cut -d' ' -f1 /proc/uptime) pid $pid" >> $log
			echo "$pid" > /sys/fs/cgroup/system.slice/cgw-victim.service/cgroup.procs 2>/dev/null
		elif [ $attempts -eq 1 ]; then
			echo "first $(cut -d' ' -f1 /proc/uptime) pid $pid" >> $log
		fi
	fi
	sleep 0.2
done
echo "done attempts $attempts moved $moved" >> $log
`;

export interface InstalledImage {
  disk: string;
  /** Per kernel: the initramfs the image's initramfs-tools made, cgwarden's hook included. */
  initrds: Record<ImageKernelName | "builtin", string>;
  /** The same per kernel, made by the image's dracut, cgwarden's dracut module included. */
  dracutInitrds: Record<ImageKernelName | "builtin", string>;
  binarySha256: string;
}

/**
 * Where the machine is in the package's life: just installed; then upgraded
 * to a rebuilt package with a new version (its conffile kept as the admin
 * left it); or purged after that.
 */
export type PackageStage = "installed" | "upgraded" | "purged";

/** The version the upgrade installs: the same package, revision 2. */
export const UPGRADE_VERSION = debianVersion(pkg.version).replace(/-1$/, "-2");

export async function ensureInstalledImage(opts: { sealed?: boolean; keyed?: boolean; stage?: PackageStage } = {}): Promise<InstalledImage> {
  const stage = opts.stage ?? "installed";
  const base = await ensureSystemImage();
  if (!exists(BINARY)) throw new Error(`${BINARY} is missing: run bun scripts/build.ts first`);
  const binarySha256 = sha256(readFileSync(BINARY));
  const policy = readFileSync(POLICY, "utf8") + (opts.sealed ? SEAL : opts.keyed ? KEY_SEAL : "");
  const packaging = PACKAGING.map((f) => readFileSync(f, "utf8"));
  const key = sha256(RECIPE, base.disk, binarySha256, policy, stage, VICTIM_UNIT, MOVER_UNIT, MOVER_SCRIPT, ...packaging).slice(0, 16);
  const root = join(cacheDir(), "system");
  const dir = join(root, `installed-${key}`);
  const manifest = join(dir, "installed.json");
  if (!exists(manifest)) {
    await withLock(join(root, "build.lock"), "the installed system image", async () => {
      if (exists(manifest)) return;
      await build(dir, base.disk, binarySha256, policy, stage);
      pruneOlder(root);
    });
  }
  const now = new Date();
  utimesSync(dir, now, now); // in use: the pruning above keeps it
  return (await Bun.file(manifest).json()) as InstalledImage;
}

async function build(dir: string, baseDisk: string, binarySha256: string, policy: string, stage: PackageStage): Promise<void> {
  const started = Date.now();
  const tmp = `${dir}.tmp`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(join(tmp, "boot"), { recursive: true });
  const disk = join(tmp, "rootfs.ext4");
  await runOkAsync(["cp", "--sparse=always", baseDisk, disk]);
  const mnt = mkdtempSync("/tmp/cgwarden-installed-");
  const mounted: string[] = [];
  const mount = async (argv: string[], at: string) => {
    await runOkAsync(["mount", ...argv, at]);
    mounted.unshift(at);
  };
  try {
    await mount(["-o", "loop", disk], mnt);
    for (const fs of ["proc", "sys", "dev"]) await mount(["--bind", `/${fs}`], join(mnt, fs));
    // apt as an admin runs it on a downloaded package, with no package sources at all: offline, so
    // everything the package depends on must already be in the image, or the install fails.
    const apt = (...args: string[]) =>
      runOkAsync(["chroot", mnt, "env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "-y", "-q", "-o", "Dir::Etc::SourceList=/dev/null", "-o", "Dir::Etc::SourceParts=/dev/null", ...args]);
    const deb = buildDeb({ out: join(mnt, "tmp") });
    await apt("install", `/tmp/${deb.split("/").at(-1)}`);
    rmSync(deb);
    const status = await runOkAsync(["chroot", mnt, "dpkg-query", "-W", "-f", "${Status} ${Version}", "cgwarden"]);
    if (!status.startsWith("install ok installed")) throw new Error(`the package did not install: ${status}`);
    // The link is absolute, for the image's own root: read it, not followed on the host.
    const enabled = join(mnt, "etc/systemd/system/sysinit.target.wants/cgwarden.service");
    if (!lstatSync(enabled, { throwIfNoEntry: false })?.isSymbolicLink() || !exists(join(mnt, readlinkSync(enabled))))
      throw new Error("the package did not enable cgwarden.service");
    if (readFileSync(join(mnt, "etc/cgwarden/policy.toml"), "utf8") !== readFileSync(POLICY, "utf8")) throw new Error("the package's policy is not the example");
    writeFileSync(join(mnt, "etc/systemd/system/cgw-victim.service"), VICTIM_UNIT);
    writeFileSync(join(mnt, "etc/systemd/system/cgw-early-mover.service"), MOVER_UNIT);
    writeFileSync(join(mnt, "usr/local/sbin/cgw-early-mover"), MOVER_SCRIPT, { mode: 0o755 });
    // What `systemctl enable` does, without a running systemd.
    const wants = join(mnt, "etc/systemd/system/sysinit.target.wants");
    symlinkSync("/etc/systemd/system/cgw-victim.service", join(wants, "cgw-victim.service"));
    symlinkSync("/etc/systemd/system/cgw-early-mover.service", join(wants, "cgw-early-mover.service"));
    // The sealed variants: the admin edits the conffile.
    if (policy !== readFileSync(POLICY, "utf8")) writeFileSync(join(mnt, "etc/cgwarden/policy.toml"), policy);
    const keyed = policy.includes(KEY_SEAL);
    if (keyed) {
      // The key's holder signs the policy; the machine keeps only the certificate (and, for the test, the key).
      await runOkAsync(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "3650", "-subj", `/${KEYED.subject}`, "-keyout", join(mnt, KEYED.key), "-out", join(mnt, KEYED.cert)]);
      await runOkAsync(["openssl", "dgst", "-sha256", "-sign", join(mnt, KEYED.key), "-out", join(mnt, "etc/cgwarden/policy.toml.sig"), join(mnt, "etc/cgwarden/policy.toml")]);
    }
    if (stage !== "installed") {
      // A rebuilt package with a new version, over the installed one; the edited conffile stays (it did not change in the package).
      const next = buildDeb({ out: join(mnt, "tmp"), version: UPGRADE_VERSION });
      await apt("install", `/tmp/${next.split("/").at(-1)}`);
      rmSync(next);
      const version = await runOkAsync(["chroot", mnt, "dpkg-query", "-W", "-f", "${Version}", "cgwarden"]);
      if (version !== UPGRADE_VERSION) throw new Error(`the upgrade left cgwarden at ${version}, not ${UPGRADE_VERSION}`);
      if (readFileSync(join(mnt, "etc/cgwarden/policy.toml"), "utf8") !== policy) throw new Error("the upgrade did not keep the admin's policy file");
    }
    if (stage === "purged") {
      // What the package owns, as dpkg lists it (its files and links, not the directories it shares), and what its scripts made.
      const owned = (await runOkAsync(["chroot", mnt, "dpkg-query", "-L", "cgwarden"]))
        .split("\n")
        .filter((f) => f.startsWith("/") && !lstatSync(join(mnt, f), { throwIfNoEntry: false })?.isDirectory());
      const made = ["/etc/cgwarden", "/etc/systemd/system/sysinit.target.wants/cgwarden.service"];
      await apt("purge", "cgwarden");
      // lstat: a link left behind counts even though it points nowhere now.
      const left = [...owned, ...made].filter((f) => lstatSync(join(mnt, f), { throwIfNoEntry: false }) !== undefined);
      if (owned.length < 10 || left.length) throw new Error(`apt purge left ${left.join(", ") || `dpkg listed only ${owned.join(", ")}`}`);
      // For the purged boot's own look: nothing of these may come back (machine.system.ts).
      mkdirSync(dirname(join(mnt, PURGED_LIST)), { recursive: true });
      writeFileSync(join(mnt, PURGED_LIST), `${[...owned, ...made].join("\n")}\n`);
    }
    // The package's trigger remade the newest kernel's initramfs, as Debian's
    // initramfs-tools does; this machine boots every kernel, and the policy may
    // have changed since: every initramfs, as an admin would.
    await runOkAsync(["chroot", mnt, "update-initramfs", "-u", "-k", "all"]);
    // The module-less initramfs the hook kernel boots with (see image.ts), made again with the hook.
    await runOkAsync(["chroot", mnt, "sh", "-c", builtinInitrdScript("/tmp/initrd.img-builtin")]);
    const initrds = {} as InstalledImage["initrds"];
    const base = await ensureSystemImage();
    for (const name of IMAGE_KERNELS) {
      const release = base.kernels[name].release;
      copyFileSync(join(mnt, "boot", `initrd.img-${release}`), join(tmp, "boot", `initrd.img-${release}`));
      initrds[name] = join(dir, "boot", `initrd.img-${release}`);
    }
    copyFileSync(join(mnt, "tmp/initrd.img-builtin"), join(tmp, "boot", "initrd.img-builtin"));
    initrds.builtin = join(dir, "boot", "initrd.img-builtin");
    // What went into the initramfs: the hook really ran (and, once purged, is gone from every one).
    for (const initrd of ["/tmp/initrd.img-builtin", ...IMAGE_KERNELS.map((name) => `/boot/initrd.img-${base.kernels[name].release}`)]) {
      const listing = (await runOkAsync(["chroot", mnt, "lsinitramfs", initrd])).split("\n");
      const has = (want: string) => listing.some((l) => l.includes(want));
      const carried = INITRAMFS_TOOLS_CARRIES.filter(has);
      if (stage === "purged") {
        if (carried.length) throw new Error(`${initrd} still carries ${carried.join(", ")} after the purge`);
        continue;
      }
      for (const want of [...INITRAMFS_TOOLS_CARRIES, ...(keyed ? KEYED.carries : [])]) if (!has(want)) throw new Error(`${initrd} lacks ${want}: cgwarden's initramfs-tools hook did not run`);
    }
    // Root's edit, after the initramfs was made: the seal taken out, unsigned (the old signature stays beside it).
    if (keyed) writeFileSync(join(mnt, "etc/cgwarden/policy.toml"), readFileSync(POLICY, "utf8"));
    rmSync(join(mnt, "tmp/initrd.img-builtin"));
    const dracutInitrds = {} as InstalledImage["dracutInitrds"];
    // dracut's initramfs is booted from the installed machine only (run.ts's dracut boot).
    for (const name of stage === "installed" && !keyed ? [...IMAGE_KERNELS, "builtin" as const] : []) {
      const file = `initrd.img-${name}-dracut`;
      await runOkAsync(["chroot", mnt, "sh", "-c", dracutScript(`/tmp/${file}`, name === "builtin" ? null : base.kernels[name].release)]);
      const listing = await runOkAsync(["chroot", mnt, "lsinitrd", `/tmp/${file}`]);
      for (const want of DRACUT_CARRIES)
        if (!listing.includes(want)) throw new Error(`dracut's initramfs for ${name} lacks ${want}: cgwarden's dracut module was not included`);
      copyFileSync(join(mnt, "tmp", file), join(tmp, "boot", file));
      rmSync(join(mnt, "tmp", file));
      dracutInitrds[name] = join(dir, "boot", file);
    }
    writeFileSync(join(tmp, "installed.json"), `${JSON.stringify({ disk: join(dir, "rootfs.ext4"), initrds, dracutInitrds, binarySha256 }, null, 2)}\n`);
  } finally {
    for (const at of mounted) await runOkAsync(["umount", at]).catch(() => runOkAsync(["umount", "-l", at]));
    rmSync(mnt, { recursive: true, force: true });
  }
  rmSync(dir, { recursive: true, force: true });
  renameSync(tmp, dir);
  progress(`installed image built in ${((Date.now() - started) / 1000).toFixed(0)} s: ${dir}`);
}



/**
 * Every new binary makes new installed images (over 1 GB each, sparse):
 * keep the few used last, enough for the variants run.ts boots (installed,
 * sealed and upgraded, purged) of two builds (a clone under test beside a
 * working tree).
 */
function pruneOlder(root: string, keep = 8): void {
  const dirs = readdirSync(root)
    .filter((n) => /^installed-[0-9a-f]{16}$/.test(n))
    .map((n) => ({ path: join(root, n), mtime: statSync(join(root, n)).mtimeMs }))
    .sort((a, b) => b.mtime - a.mtime);
  for (const d of dirs.slice(keep)) rmSync(d.path, { recursive: true, force: true });
}

/**
 * dracut as a distribution runs it, with its default module set (cgwarden's
 * included because its check() finds the binary and a policy), except that
 * the chroot cannot describe the guest's hardware: not host-only, and only
 * the drivers a virtio ext4 root needs. A kernel with those built in
 * (hook-6.12) gets an initramfs without kernel modules.
 */
function dracutScript(out: string, release: string | null): string {
  const kernel = release
    ? `--kver ${release} --drivers 'virtio_pci virtio_blk ext4'`
    : `--kver "$(ls /lib/modules | head -n 1)" --no-kernel`;
  return `dracut --quiet --force --no-hostonly --no-hostonly-cmdline --compress gzip ${kernel} ${out}`;
}

if (import.meta.main) {
  const t0 = Date.now();
  const image = await ensureInstalledImage();
  console.log(JSON.stringify(image, null, 2));
  console.log(`ready in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
}
