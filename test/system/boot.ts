#!/usr/bin/env bun
// Boot the system image (image.ts) under QEMU TCG with systemd as PID 1, run
// one command in it once it is up, and bring back the command's output and
// exit status and the boot's journal. The disk is -snapshot: every run
// starts from the same fresh machine. The host's project is shared
// read-only over virtiofs and mounted at the same path, like test/vm.
//   bun test/system/boot.ts --kernel debian-6.12 [--initrd FILE|builtin] [--disk FILE] [--timeout 600] [--memory 1024]
//       [--journal FILE] [--console] [--verbose] -- sh -c 'systemctl is-system-running --wait'

import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { ensureHookKernel } from "../vm/hook-kernel.ts";
import { ensureDebs, exists } from "../vm/util.ts";
import { kill, pump, removeRunDir, startOutShare, stopGuest } from "../vm/guest.ts";
import { ensureSystemImage, FATAL_MARKER, IMAGE_KERNELS, type ImageKernelName, OUT_SHARE_TAG, RUNNING_MARKER, SHARE_TAG } from "./image.ts";
import { onInterrupt, ROOT } from "../../scripts/project.ts";

export const SYSTEM_KERNELS = [...IMAGE_KERNELS, "hook-6.12"] as const;
export type SystemKernelName = (typeof SYSTEM_KERNELS)[number];

export interface SystemKernel {
  name: string;
  vmlinuz: string;
  /** Absent for a kernel with everything the root disk needs built in. */
  initrd?: string;
}

export interface BootOptions {
  kernel: SystemKernel;
  argv: string[];
  /** Working directory inside the guest (a host path); default: project root. */
  cwd?: string;
  env?: Record<string, string>;
  /** Whole-run budget, boot included; on expiry QEMU is killed and boot() throws. */
  timeoutMs: number;
  memoryMiB?: number;
  /** Leave out `quiet`: kernel messages and every systemd status line on the console. */
  verbose?: boolean;
  kernelArgs?: string[];
  /** Root disk image; default: the system image. Always booted with snapshot=on. */
  disk?: string;
  /**
   * A network card (QEMU user networking: the guest is 10.0.2.15, the host
   * 10.0.2.2) with the guest's SSH port forwarded to this port on the host's
   * loopback address only. Default: no network at all.
   */
  sshPort?: number;
  /**
   * Run on the host while the guest runs, given the share's out/ directory
   * (/run/cgwarden-share/out in the guest), through which the two talk.
   * Its failure fails the boot, after the guest is done.
   */
  alongside?: (out: string, guestDone: Promise<void>) => Promise<void>;
}

export interface BootResult {
  exitCode: number;
  /** The command's stdout and stderr, interleaved. */
  output: string;
  /** `journalctl -b` taken right after the command finished. */
  journal: string;
  consoleTail: string;
  /** Wall time from starting QEMU until the command started (systemd up to multi-user.target). */
  bootMs: number;
  durationMs: number;
}

const VIRTIOFSD_PATHS = ["/usr/lib/qemu/virtiofsd", "/usr/libexec/virtiofsd"];
// Same order as test/vm/guest.ts: bpf last so it sees what the others allowed.
const LSM_ORDER = "lockdown,capability,landlock,yama,bpf";
const TAIL_LINES = 60;
const GUEST_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
// Console lines after which the machine will never run the command: stop
// at once instead of waiting for the timeout.
const HOPELESS = ["Gave up waiting for root", "You are in emergency mode", "Kernel panic", FATAL_MARKER];

export async function systemKernel(name: SystemKernelName): Promise<SystemKernel> {
  if (name === "hook-6.12") {
    // Built with MODULES=n and virtio/ext4 =y: it mounts /dev/vda itself.
    return { name, vmlinuz: (await ensureHookKernel()).bzImage };
  }
  const k = (await ensureSystemImage()).kernels[name as ImageKernelName];
  return { name, vmlinuz: k.vmlinuz, initrd: k.initrd };
}

const shq = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

function commandScript(opts: BootOptions): string {
  const env: Record<string, string> = { HOME: "/root", PATH: GUEST_PATH, TERM: "dumb", ...opts.env };
  const lines = ["umask 022", `cd ${shq(opts.cwd ?? ROOT)} || exit 127`];
  for (const [k, v] of Object.entries(env)) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) throw new Error(`bad environment variable name: ${k}`);
    lines.push(`export ${k}=${shq(v)}`);
  }
  lines.push(`exec ${opts.argv.map(shq).join(" ")}`);
  return `${lines.join("\n")}\n`;
}

// Runs in a private mount namespace: the share is built from bind mounts
// the host never sees, read-only on the host side for the project. Cached
// by the guest, as in test/vm/guest.ts: the project does not change while
// a guest runs; out/ does, and is a second, uncached share (startOutShare).
const SHARE_SETUP = `set -e
T=$1 vfsd=$2 project=$3
mount -t tmpfs -o mode=0755 cgwarden-share "$T/share"
mkdir "$T/share/project" "$T/share/out"
mount --bind -o ro "$project" "$T/share/project"
exec "$vfsd" --socket-path="$T/sock" -o source="$T/share" -o cache=always
`;

class Console {
  private text = "";
  hopeless?: string;
  running = false;
  append(s: string): void {
    this.text = (this.text + s).slice(-512 * 1024);
    this.running ||= this.text.includes(RUNNING_MARKER);
    this.hopeless ??= HOPELESS.find((h) => this.text.includes(h));
  }
  tail(lines = TAIL_LINES): string {
    const clean = this.text.replace(/\x1b\[[0-9;?]*[A-Za-z]|\x1b[A-Za-z]|\r/g, "");
    return clean.trimEnd().split("\n").slice(-lines).join("\n");
  }
}


export async function boot(opts: BootOptions): Promise<BootResult> {
  const started = Date.now();
  await ensureDebs(["qemu-system-x86"]);
  const vfsdPath = VIRTIOFSD_PATHS.find(exists);
  if (!vfsdPath) throw new Error(`virtiofsd not found in ${VIRTIOFSD_PATHS.join(", ")}`);
  const image = await ensureSystemImage();
  const memory = opts.memoryMiB ?? 1024;

  const dir = mkdtempSync(join(tmpdir(), "cgwarden-system-"));
  mkdirSync(join(dir, "out"));
  mkdirSync(join(dir, "share"));
  writeFileSync(join(dir, "out", "run.sh"), commandScript(opts));
  writeFileSync(join(dir, "out", "project"), `${ROOT}\n`);

  let vfsd: Subprocess | undefined;
  let outVfsd: Subprocess | undefined;
  let qemu: Subprocess | undefined;
  const unregister = onInterrupt(() => {
    kill(qemu, "SIGKILL");
    kill(vfsd, "SIGKILL");
    kill(outVfsd, "SIGKILL");
    removeRunDir(dir);
  });
  const consoleBuf = new Console();
  const vfsdLog = new Console();
  const fail = (why: string) =>
    new Error(
      `system guest on ${opts.kernel.name}: ${why}\n--- last ${TAIL_LINES} lines of the console ---\n${consoleBuf.tail()}` +
        `\n--- virtiofsd ---\n${vfsdLog.tail(10)}`,
    );
  try {
    vfsd = Bun.spawn(
      ["setpriv", "--pdeathsig", "KILL", "--", "unshare", "-m", "--propagation", "private", "--", "/bin/sh", "-c", SHARE_SETUP, "sh", dir, vfsdPath, ROOT],
      { stdin: "ignore", stdout: "ignore", stderr: "pipe" },
    );
    void pump(vfsd.stderr as ReadableStream<Uint8Array>, (s) => vfsdLog.append(s)).catch(() => {});
    const outShare = startOutShare(vfsdPath, dir, OUT_SHARE_TAG, (s) => vfsdLog.append(s));
    outVfsd = outShare.vfsd;
    while (!exists(join(dir, "sock")) || !exists(outShare.socket)) {
      if (vfsd.exitCode !== null || outVfsd.exitCode !== null || Date.now() - started > 15_000) throw fail("virtiofsd did not start");
      await Bun.sleep(20);
    }

    const append = [
      // ro, as installed: fsck first (initramfs or systemd), then fstab's rw.
      // No rootwait: a kernel that cannot see /dev/vda should panic, not hang.
      "root=/dev/vda", "rootfstype=ext4", "ro",
      "console=ttyS0", "panic=-1", `lsm=${LSM_ORDER}`,
      ...(opts.verbose ? [] : ["quiet"]),
      ...(opts.kernelArgs ?? []),
    ].join(" ");
    qemu = Bun.spawn(
      [
        "setpriv", "--pdeathsig", "KILL", "--",
        "qemu-system-x86_64",
        // KVM is unusable here; multi-vCPU TCG races kernel text patching.
        "-accel", "tcg", "-cpu", "max", "-smp", "1",
        "-m", `${memory}M`,
        "-nographic", "-no-reboot",
        ...(opts.sshPort ? ["-nic", `user,model=virtio-net-pci,hostfwd=tcp:127.0.0.1:${opts.sshPort}-:22`] : ["-nic", "none"]),
        "-kernel", opts.kernel.vmlinuz,
        ...(opts.kernel.initrd ? ["-initrd", opts.kernel.initrd] : []),
        "-append", append,
        // snapshot=on: writes go to a throwaway overlay, the cached image
        // is only read (several guests may share it).
        "-drive", `file=${opts.disk ?? image.disk},format=raw,if=virtio,snapshot=on`,
        "-chardev", `socket,id=vfs,path=${join(dir, "sock")}`,
        "-device", `vhost-user-fs-pci,chardev=vfs,tag=${SHARE_TAG}`,
        ...outShare.qemuArgs,
        "-object", `memory-backend-memfd,id=mem,size=${memory}M,share=on`,
        "-numa", "node,memdev=mem",
      ],
      { stdin: "ignore", stdout: "pipe", stderr: "pipe" },
    );
    const pumps = Promise.all([
      pump(qemu.stdout as ReadableStream<Uint8Array>, (s) => consoleBuf.append(s)),
      pump(qemu.stderr as ReadableStream<Uint8Array>, (s) => consoleBuf.append(s)),
    ]);

    let bootMs = -1;
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      kill(qemu, "SIGKILL");
    }, opts.timeoutMs - (Date.now() - started));
    let giveUp: Timer | undefined;
    const poller = setInterval(() => {
      if (bootMs < 0 && consoleBuf.running) bootMs = Date.now() - started;
      // Give the console a moment to show why (emergency shell, panic trace).
      if (consoleBuf.hopeless) giveUp ??= setTimeout(() => kill(qemu, "SIGKILL"), 3000);
    }, 250);
    // Started with the guest; whatever it finds is reported once the guest is done.
    const guestDone = qemu.exited.then(() => {});
    const beside = opts.alongside?.(join(dir, "out"), guestDone).then(
      () => null,
      (e: Error) => e,
    );
    try {
      await qemu.exited;
      await pumps;
    } finally {
      clearTimeout(timer);
      clearTimeout(giveUp);
      clearInterval(poller);
    }
    const durationMs = Date.now() - started;
    const out = (f: string) => (exists(join(dir, "out", f)) ? readFileSync(join(dir, "out", f), "utf8") : "");
    if (timedOut) throw fail(`timed out after ${(opts.timeoutMs / 1000).toFixed(0)} s (QEMU killed)`);
    if (!exists(join(dir, "out", "status"))) {
      const why = consoleBuf.hopeless ?? (consoleBuf.running ? "guest died while the command was running" : "guest did not boot");
      throw fail(`${why} (QEMU exit ${qemu.exitCode ?? qemu.signalCode})`);
    }
    const besideError = await beside;
    if (besideError) throw fail(`the host's side of the run failed: ${besideError.message}`);
    const exitCode = Number.parseInt(out("status").trim(), 10);
    return { exitCode, output: out("output"), journal: out("journal"), consoleTail: consoleBuf.tail(), bootMs, durationMs };
  } finally {
    await stopGuest(qemu, vfsd, outVfsd);
    unregister();
    removeRunDir(dir);
  }
}

const USAGE = `usage: bun test/system/boot.ts --kernel <${SYSTEM_KERNELS.join("|")}> [--vmlinuz FILE] [--initrd FILE|builtin]
       [--disk FILE] [--timeout SECONDS] [--memory MiB] [--journal FILE] [--console] [--verbose] -- COMMAND [ARG]...`;

function usage(msg?: string): never {
  if (msg) process.stderr.write(`boot: ${msg}\n`);
  process.stderr.write(`${USAGE}\n`);
  process.exit(2);
}

async function main(args: string[]): Promise<number> {
  let kernelName: SystemKernelName | undefined;
  let vmlinuz: string | undefined;
  let initrd: string | undefined;
  let disk: string | undefined;
  let timeoutSec = 600;
  let memoryMiB = 1024;
  let journalFile: string | undefined;
  let showConsole = false;
  let verbose = false;
  let argv: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i] as string;
    const value = (): string => args[++i] ?? usage(`${a} needs a value`);
    if (a === "--") {
      argv = args.slice(i + 1);
      break;
    } else if (a === "--kernel") {
      const k = value();
      if (!(SYSTEM_KERNELS as readonly string[]).includes(k)) usage(`unknown kernel ${k}`);
      kernelName = k as SystemKernelName;
    } else if (a === "--vmlinuz") vmlinuz = value();
    else if (a === "--initrd") initrd = value();
    else if (a === "--disk") disk = value();
    else if (a === "--timeout") timeoutSec = Number(value());
    else if (a === "--memory") memoryMiB = Number(value());
    else if (a === "--journal") journalFile = value();
    else if (a === "--console") showConsole = true;
    else if (a === "--verbose") verbose = true;
    else usage(`unexpected argument ${a} (put the command after --)`);
  }
  if (!kernelName && !vmlinuz) usage("--kernel or --vmlinuz is required");
  if (argv.length === 0) usage("no command given after --");
  if (!(timeoutSec > 0)) usage("--timeout must be a positive number of seconds");
  try {
    // --vmlinuz: any other kernel, e.g. a hook-6.12 bzImage without risking a rebuild.
    const kernel = vmlinuz ? { name: vmlinuz, vmlinuz } : await systemKernel(kernelName as SystemKernelName);
    // "builtin": the image's module-less initramfs, for hook-6.12 and the like.
    if (initrd) kernel.initrd = initrd === "builtin" ? (await ensureSystemImage()).builtinInitrd : initrd;
    process.stderr.write(`[system] ${kernel.name}: ${kernel.vmlinuz}${kernel.initrd ? ` + ${kernel.initrd}` : " (no initrd)"}\n`);
    const r = await boot({ kernel, disk, argv, timeoutMs: timeoutSec * 1000, memoryMiB, verbose });
    process.stdout.write(r.output);
    if (journalFile) writeFileSync(journalFile, r.journal);
    if (showConsole) process.stderr.write(`--- console (tail) ---\n${r.consoleTail}\n`);
    process.stderr.write(`[system] exit ${r.exitCode}; up to the command ${(r.bootMs / 1000).toFixed(1)} s, total ${(r.durationMs / 1000).toFixed(1)} s\n`);
    return r.exitCode;
  } catch (e) {
    process.stderr.write(`[system] ${(e as Error).message}\n`);
    return 125;
  }
}

if (import.meta.main) process.exit(await main(process.argv.slice(2)));
