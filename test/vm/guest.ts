// Run one command inside a throwaway QEMU guest (TCG, one vCPU) that sees
// the host's filesystem read-only over virtiofs, the way virtme-ng does.
// The host kernel cannot load LSM/fentry programs, so every enforcement
// test goes through here.

import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, readSync, realpathSync, rmdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { ensureInitramfs, FATAL_MARKER, RUNNING_MARKER, VIRTIOFS_OUT_TAG, VIRTIOFS_TAG } from "./initramfs.ts";
import type { GuestKernel } from "./kernels.ts";
import { ensureDebs, exists } from "./util.ts";
import { onInterrupt, ROOT } from "../../scripts/project.ts";

export interface RunInGuestOptions {
  kernel: GuestKernel;
  argv: string[];
  /** Working directory inside the guest (a host path); default: project root. */
  cwd?: string;
  /** Extra environment for the command (on top of HOME, PATH, TERM). */
  env?: Record<string, string>;
  /** Whole-run budget, boot included. On expiry the guest is killed and
   * runInGuest throws. */
  timeoutMs: number;
  memoryMiB?: number;
  /** Streams the command's output as it is produced (polled, ~4 Hz). */
  onOutput?: (chunk: Uint8Array) => void;
  /** Extra kernel command line arguments. */
  kernelArgs?: string[];
  /** Extra QEMU arguments, appended to its command line (e.g. a TCG plugin). */
  qemuArgs?: string[];
  /**
   * A command that prints nothing for this long is taken as hung: its
   * blocked tasks are dumped to the console and the guest is killed, and
   * runInGuest throws a GuestHung. Default: only the whole-run budget.
   */
  stallMs?: number;
}

/** The guest printed nothing for too long, or ran out of time: it was dumped and killed. */
export class GuestHung extends Error {
  constructor(
    message: string,
    /** Whether the command printed anything at all before it hung. */
    readonly printedAnything: boolean,
    /**
     * Whether the guest's init answered the host's dump request. It polls
     * the share every 5 s; no answer means the whole machine or its share
     * froze, not a test that waits.
     */
    readonly dumpAnswered: boolean,
  ) {
    super(message);
  }
}

export interface RunInGuestResult {
  exitCode: number;
  /** The command's stdout and stderr, interleaved as written. */
  output: string;
  /** Last ~40 lines of the guest's serial console (kernel + init). */
  consoleTail: string;
  /** Wall time from starting QEMU until it exited. */
  durationMs: number;
  /** Wall time from starting QEMU until the command started. */
  bootMs: number;
}

const QEMU = "qemu-system-x86_64";
const VIRTIOFSD_PATHS = ["/usr/lib/qemu/virtiofsd", "/usr/libexec/virtiofsd"];
const CONSOLE_TAIL_LINES = 40;
/** A timed-out guest shows this much of its console: the watchdog's dump with it. */
const CONSOLE_TAIL_ON_TIMEOUT = 400;
/** A guest nearing its deadline dumps its blocked tasks this long before it is killed. */
const DUMP_LEAD_MS = 60_000;
/** How long the guest's dump may take to reach the console (it polls every 5 s). */
const DUMP_WAIT_MS = 20_000;
/**
 * Kernel reports for a guest that hangs: tasks blocked over 60 s, soft
 * lockups with every CPU's backtrace, RCU stalls. Reports only; none panics.
 */
const HANG_REPORTS = ["sysctl.kernel.hung_task_timeout_secs=60", "softlockup_all_cpu_backtrace=1", "rcupdate.rcu_cpu_stall_timeout=60"];
const CONSOLE_KEEP_BYTES = 256 * 1024;
const GUEST_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
// capability is always first anyway; bpf last so it sees what others allowed.
const LSM_ORDER = "lockdown,capability,landlock,yama,bpf";

let toolsChecked = false;
async function ensureTools(): Promise<string> {
  if (!toolsChecked) {
    await ensureDebs(["qemu-system-x86", "busybox-static", "util-linux"]);
    toolsChecked = true;
  }
  const vfsd = VIRTIOFSD_PATHS.find(exists);
  if (!vfsd) throw new Error(`virtiofsd not found in ${VIRTIOFSD_PATHS.join(", ")}`);
  return vfsd;
}

/** Quote for POSIX sh: the command line travels to the guest as a script. */
const shq = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

function commandScript(opts: RunInGuestOptions, cwd: string): string {
  const env: Record<string, string> = {
    HOME: "/tmp",
    // Project tools (bun, tsc) last, so they never shadow system ones.
    PATH: `${GUEST_PATH}:${join(ROOT, "node_modules/.bin")}`,
    TERM: "dumb",
    ...opts.env,
  };
  const lines = ["umask 022", `cd ${shq(cwd)} || exit 127`];
  for (const [k, v] of Object.entries(env)) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) throw new Error(`bad environment variable name: ${k}`);
    lines.push(`export ${k}=${shq(v)}`);
  }
  lines.push(`exec ${opts.argv.map(shq).join(" ")}`);
  return `${lines.join("\n")}\n`;
}

interface Mount {
  point: string;
}

/** Mount points from / down to `path` (excluding /): these must be bound
 * into the share too, since a plain bind of / does not carry submounts. */
function mountChain(path: string): string[] {
  const mounts: Mount[] = readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .filter(Boolean)
    .map((l) => ({ point: (l.split(" ")[4] ?? "").replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(Number.parseInt(o, 8))) }));
  const real = realpathSync(path);
  const chain = new Set<string>();
  for (const m of mounts) {
    if (m.point !== "/" && (real === m.point || real.startsWith(`${m.point}/`))) chain.add(m.point);
  }
  return [...chain].sort((a, b) => a.length - b.length);
}

function hardNofile(): number {
  const line = readFileSync("/proc/self/limits", "utf8")
    .split("\n")
    .find((l) => l.startsWith("Max open files"));
  const hard = Number(line?.trim().split(/\s+/)[4]);
  return Number.isFinite(hard) && hard > 0 ? Math.min(hard, 1_000_000) : 4096;
}

// Runs in a private mount namespace (unshare -m): builds the share's root
// from bind mounts that the host never sees, then becomes virtiofsd.
// Binding / non-recursively keeps /proc, /sys, /dev and unrelated host
// mounts out of the guest; the bind is read-only on the host side, so not
// even root in the guest can write to the host.
//
// cache=always: the guest keeps what it read in its own page cache. With
// cache=none every exec paged the 110 MB Bun executable in again over FUSE
// (about 270 major faults), and a `cgwarden --version` took 2 to 5 s under
// TCG instead of 0.16 s. Nothing under root/ changes while a guest runs.
// out/ does (the host's dump request, the guest's output and status), so
// it is a second share, uncached (startOutShare).
const SHARE_SETUP = `set -e
T=$1 vfsd=$2 nofile=$3; shift 3
mount -t tmpfs -o mode=0755 cgwarden-share "$T/share"
mkdir "$T/share/root" "$T/share/out"
mount --bind -o ro / "$T/share/root"
for mp in "$@"; do mount --bind -o ro "$mp" "$T/share/root$mp"; done
exec "$vfsd" --socket-path="$T/sock" -o source="$T/share" -o cache=always --rlimit-nofile="$nofile"
`;

const OUT_SOCKET = "out.sock";

/**
 * A run's out/ (dir/out) as a second virtiofs share, uncached: host and
 * guest both write there while the guest runs. Starts its virtiofsd, its
 * stderr going to `log`, and gives the socket to wait for and the QEMU
 * arguments that attach the share under `tag` (what the guest mounts).
 */
export function startOutShare(vfsdPath: string, dir: string, tag: string, log: (s: string) => void): { vfsd: Subprocess; socket: string; qemuArgs: string[] } {
  const socket = join(dir, OUT_SOCKET);
  const vfsd = Bun.spawn(["setpriv", "--pdeathsig", "KILL", "--", vfsdPath, `--socket-path=${socket}`, "-o", `source=${join(dir, "out")}`, "-o", "cache=none"], {
    stdin: "ignore",
    stdout: "ignore",
    stderr: "pipe",
  });
  void pump(vfsd.stderr as ReadableStream<Uint8Array>, log).catch(() => {});
  return { vfsd, socket, qemuArgs: ["-chardev", `socket,id=out,path=${socket}`, "-device", `vhost-user-fs-pci,chardev=out,tag=${tag}`] };
}

async function waitForSocket(path: string, vfsd: Subprocess, log: ConsoleBuffer, deadline: number): Promise<void> {
  while (!exists(path)) {
    if (vfsd.exitCode !== null || vfsd.signalCode !== null) {
      await Bun.sleep(50); // let the stderr pump catch up
      throw new Error(`virtiofsd exited before creating its socket:\n${log.tail()}`);
    }
    if (Date.now() > deadline) throw new Error("virtiofsd did not create its socket in time");
    await Bun.sleep(20);
  }
}

/** Keeps only the tail of the console: a chatty kernel must not grow memory. */
class ConsoleBuffer {
  private text = "";
  sawRunning = false;
  sawFatal = false;
  append(chunk: string): void {
    this.text += chunk;
    if (this.text.length > CONSOLE_KEEP_BYTES * 2) this.text = this.text.slice(-CONSOLE_KEEP_BYTES);
    if (!this.sawRunning && this.text.includes(RUNNING_MARKER)) this.sawRunning = true;
    if (!this.sawFatal && this.text.includes(FATAL_MARKER)) this.sawFatal = true;
  }
  tail(lines = CONSOLE_TAIL_LINES): string {
    // Drop SeaBIOS's terminal control sequences; they garble error messages.
    const clean = this.text.replace(/\x1b\[[0-9;?]*[A-Za-z]|\x1b[A-Za-z]|\r/g, "");
    return clean.trimEnd().split("\n").slice(-lines).join("\n");
  }
}

export async function pump(stream: ReadableStream<Uint8Array>, sink: (s: string) => void): Promise<void> {
  const decoder = new TextDecoder();
  for await (const chunk of stream) sink(decoder.decode(chunk, { stream: true }));
}

/** Incremental reader for the output file the guest writes through virtiofs. */
class OutputFollower {
  private offset = 0;
  constructor(
    private readonly path: string,
    private readonly onChunk?: (chunk: Uint8Array) => void,
  ) {}
  poll(): void {
    if (!this.onChunk || !exists(this.path)) return;
    const size = statSync(this.path).size;
    if (size <= this.offset) return;
    const buf = new Uint8Array(size - this.offset);
    const fd = openSync(this.path, "r");
    try {
      const n = readSync(fd, buf, 0, buf.length, this.offset);
      this.offset += n;
      if (n > 0) this.onChunk(buf.subarray(0, n));
    } finally {
      closeSync(fd);
    }
  }
}

export function kill(p: Subprocess | undefined, signal: NodeJS.Signals): void {
  if (p && p.exitCode === null && p.signalCode === null) {
    try {
      p.kill(signal);
    } catch {
      // already gone
    }
  }
}

/** QEMU at once; virtiofsd leaves on its own once QEMU hangs up, this covers failures before or during QEMU start. */
export async function stopGuest(qemu: Subprocess | undefined, ...vfsds: (Subprocess | undefined)[]): Promise<void> {
  kill(qemu, "SIGKILL");
  await Promise.all(
    vfsds.map(async (vfsd) => {
      kill(vfsd, "SIGTERM");
      if (!vfsd) return;
      const gone = await Promise.race([vfsd.exited.then(() => true), Bun.sleep(2000).then(() => false)]);
      if (!gone) kill(vfsd, "SIGKILL");
      await vfsd.exited;
    }),
  );
}

/** Remove the per-run directory without ever recursing into share/: if
 * the namespace's mounts were somehow visible, a recursive delete there
 * would walk the host's filesystem. */
export function removeRunDir(dir: string): void {
  rmSync(join(dir, "out"), { recursive: true, force: true });
  rmSync(join(dir, "sock"), { force: true });
  rmSync(join(dir, OUT_SOCKET), { force: true });
  try {
    rmdirSync(join(dir, "share"));
    rmdirSync(dir);
  } catch {
    // leave it rather than risk it; it is empty or a stale mount point
  }
}

export async function runInGuest(opts: RunInGuestOptions): Promise<RunInGuestResult> {
  const started = Date.now();
  const deadline = started + opts.timeoutMs;
  const vfsdPath = await ensureTools();
  const initrd = await ensureInitramfs(opts.kernel.modules);
  const cwd = opts.cwd ?? ROOT;
  const memory = opts.memoryMiB ?? 1024;

  const dir = mkdtempSync(join(tmpdir(), "cgwarden-vm-"));
  mkdirSync(join(dir, "out"));
  mkdirSync(join(dir, "share"));
  writeFileSync(join(dir, "out", "run.sh"), commandScript(opts, cwd));
  // Paths the guest must see even if they sit under its fresh /tmp or /run (see initramfs.ts).
  writeFileSync(join(dir, "out", "keep"), `${[...new Set([realpathSync(ROOT), realpathSync(cwd)])].join("\n")}\n`);
  const extraMounts = [...new Set([...mountChain(ROOT), ...mountChain(cwd)])].sort((a, b) => a.length - b.length);

  let vfsd: Subprocess | undefined;
  let outVfsd: Subprocess | undefined;
  let qemu: Subprocess | undefined;
  const cleanup = () => {
    kill(qemu, "SIGKILL");
    kill(vfsd, "SIGKILL");
    kill(outVfsd, "SIGKILL");
    removeRunDir(dir);
  };
  const unregister = onInterrupt(cleanup);
  const consoleBuf = new ConsoleBuffer();
  const vfsdLog = new ConsoleBuffer();
  const fail = (why: string, lines = CONSOLE_TAIL_LINES): Error => {
    const vfsdTail = vfsdLog.tail(10);
    const vfsdPart = vfsdTail ? `\n--- virtiofsd ---\n${vfsdTail}` : "";
    return new Error(
      `guest on ${opts.kernel.name}: ${why}\n--- last ${lines} lines of the guest console ---\n${consoleBuf.tail(lines)}${vfsdPart}`,
    );
  };

  try {
    // setpriv --pdeathsig: if this process dies without cleaning up (even
    // SIGKILL), the kernel kills QEMU and virtiofsd too.
    vfsd = Bun.spawn(
      ["setpriv", "--pdeathsig", "KILL", "--", "unshare", "-m", "--propagation", "private", "--", "/bin/sh", "-c", SHARE_SETUP, "sh", dir, vfsdPath, String(hardNofile()), ...extraMounts],
      { stdin: "ignore", stdout: "ignore", stderr: "pipe" },
    );
    // Always drained: a full pipe would stall virtiofsd and so the guest.
    const vfsdPump = pump(vfsd.stderr as ReadableStream<Uint8Array>, (s) => vfsdLog.append(s));
    void vfsdPump.catch(() => {});
    const outShare = startOutShare(vfsdPath, dir, VIRTIOFS_OUT_TAG, (s) => vfsdLog.append(s));
    outVfsd = outShare.vfsd;
    await waitForSocket(join(dir, "sock"), vfsd, vfsdLog, Math.min(deadline, Date.now() + 15_000));
    await waitForSocket(outShare.socket, outVfsd, vfsdLog, Math.min(deadline, Date.now() + 15_000));

    const append = ["console=ttyS0", "panic=-1", `lsm=${LSM_ORDER}`, "quiet", ...HANG_REPORTS, ...(opts.kernelArgs ?? [])].join(" ");
    qemu = Bun.spawn(
      [
        "setpriv", "--pdeathsig", "KILL", "--",
        QEMU,
        // KVM is unusable here; multi-vCPU TCG races kernel text patching.
        "-accel", "tcg", "-cpu", "max", "-smp", "1",
        "-m", `${memory}M`,
        "-nographic", "-no-reboot", "-nic", "none",
        "-kernel", opts.kernel.bzImage,
        "-initrd", initrd,
        "-append", append,
        "-chardev", `socket,id=vfs,path=${join(dir, "sock")}`,
        "-device", `vhost-user-fs-pci,chardev=vfs,tag=${VIRTIOFS_TAG}`,
        ...outShare.qemuArgs,
        // vhost-user needs guest RAM in shared memory, sized exactly as -m.
        "-object", `memory-backend-memfd,id=mem,size=${memory}M,share=on`,
        "-numa", "node,memdev=mem",
        ...(opts.qemuArgs ?? []),
      ],
      { stdin: "ignore", stdout: "pipe", stderr: "pipe" },
    );
    const pumps = Promise.all([
      pump(qemu.stdout as ReadableStream<Uint8Array>, (s) => consoleBuf.append(s)),
      pump(qemu.stderr as ReadableStream<Uint8Array>, (s) => consoleBuf.append(s)),
    ]);

    let lastOutput = Date.now();
    let printed = false;
    const follower = new OutputFollower(join(dir, "out", "output"), (chunk) => {
      lastOutput = Date.now();
      printed = true;
      opts.onOutput?.(chunk);
    });
    let bootMs = -1;
    let hung: string | null = null;
    let dumpAt = 0;
    // A hang is dumped first (the guest polls for out/dump), then killed once the dump had time to land.
    const hang = (why: string) => {
      if (hung) return;
      hung = why;
      dumpAt = Date.now();
      writeFileSync(join(dir, "out", "dump"), "");
    };
    const poller = setInterval(() => {
      if (bootMs < 0 && consoleBuf.sawRunning) bootMs = Date.now() - started;
      follower.poll();
      const now = Date.now();
      if (now >= deadline - DUMP_LEAD_MS) hang(`timed out after ${(opts.timeoutMs / 1000).toFixed(0)} s (QEMU killed)`);
      else if (opts.stallMs && consoleBuf.sawRunning && now - lastOutput > opts.stallMs)
        hang(`printed nothing for ${(opts.stallMs / 1000).toFixed(0)} s${printed ? "" : " (not a line since it started)"} (QEMU killed)`);
      if (hung && now - dumpAt >= Math.min(DUMP_WAIT_MS, Math.max(0, deadline - dumpAt))) kill(qemu, "SIGKILL");
    }, 250);
    try {
      await qemu.exited;
      await pumps;
    } finally {
      clearInterval(poller);
    }
    if (bootMs < 0 && consoleBuf.sawRunning) bootMs = Date.now() - started;
    follower.poll();
    const durationMs = Date.now() - started;

    if (hung) throw new GuestHung(fail(hung, CONSOLE_TAIL_ON_TIMEOUT).message, printed, consoleBuf.tail(Number.POSITIVE_INFINITY).includes("dump requested by the host"));
    const statusFile = join(dir, "out", "status");
    if (!exists(statusFile)) {
      const why = consoleBuf.sawFatal
        ? "guest init failed"
        : consoleBuf.tail(Number.POSITIVE_INFINITY).includes("Kernel panic")
          ? "kernel panic"
          : consoleBuf.sawRunning
          ? "guest died while the command was running"
          : "guest did not boot";
      throw fail(`${why} (QEMU exit ${qemu.exitCode ?? qemu.signalCode})`);
    }
    const exitCode = Number.parseInt(readFileSync(statusFile, "utf8").trim(), 10);
    if (!Number.isFinite(exitCode)) throw fail("unreadable exit status");
    const outFile = join(dir, "out", "output");
    const output = exists(outFile) ? readFileSync(outFile, "utf8") : "";
    return { exitCode, output, consoleTail: consoleBuf.tail(), durationMs, bootMs };
  } finally {
    await stopGuest(qemu, vfsd, outVfsd);
    unregister();
    removeRunDir(dir);
  }
}
