// Helpers for the suites that run inside a guest kernel (see test/run.ts).
// Commands run in-process through runCli, as admins' scripts would run the
// binary; the binary itself is spawned only where a separate process matters.
import { existsSync, mkdirSync, readFileSync, rmdirSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { captureCli, type CliResult } from "../support/capture.ts";

export type { CliResult };

import { ROOT, spawn } from "../../scripts/project.ts";

export { ROOT };
export const BINARY = join(ROOT, "dist/cgwarden");
export const MOVER = join(ROOT, "dist/test/mover");
export const KERNEL = process.env.CGWARDEN_TEST_KERNEL ?? "unknown";
export const EXPECTED_MECHANISM = KERNEL === "hook-6.12" ? "native" : "mainline";
export const CGROOT = "/sys/fs/cgroup";
export const PIN_DIR = "/sys/fs/bpf/cgwarden";

if (!existsSync("/sys/fs/cgroup/cgroup.procs") || process.getuid?.() !== 0 || !process.env.CGWARDEN_TEST_KERNEL)
  throw new Error("guest suites run as root inside a test guest: use 'bun test/run.ts'");


/** Runs `cgwarden ARGS...` in this process. */
export const cgw = (...args: string[]): Promise<CliResult> => captureCli(args);

/** Runs a command and insists it succeeds; returns its stdout. */
export async function ok(...args: string[]): Promise<string> {
  const r = await cgw(...args);
  if (r.code !== 0) throw new Error(`cgwarden ${args.join(" ")} exited ${r.code}: ${r.err || r.out}`);
  return r.out;
}

export async function json<T = any>(...args: string[]): Promise<T> {
  return JSON.parse(await ok(...args, "--json")) as T;
}

/** Runs the compiled binary as a separate process. */
export function binary(...args: string[]): CliResult {
  return spawn([BINARY, ...args]);
}

// ---- cgroups -------------------------------------------------------------

const created: string[] = [];

/** Creates cgroups (paths relative to the cgroup2 root); removed after the file's tests. */
export function mkcg(...paths: string[]): void {
  for (const p of paths) {
    const full = join(CGROOT, p);
    if (!existsSync(full)) {
      mkdirSync(full, { recursive: true });
      created.push(full);
    }
  }
}

export function cgroupOf(pid: number): string {
  const line = readFileSync(`/proc/${pid}/cgroup`, "utf8").split("\n").find((l) => l.startsWith("0::"));
  return line?.slice(3) ?? "?";
}

export function cgroupId(path: string): bigint {
  return statSync(join(CGROOT, path), { bigint: true }).ino;
}

/** Moves a process as the test runner (root, not exempt by anything but its own identity). */
export function place(pid: number, path: string): void {
  writeFileSync(join(CGROOT, path, "cgroup.procs"), String(pid));
}

export function removeCgroupTree(full: string): void {
  if (!existsSync(full)) return;
  for (const e of readdirSync(full, { withFileTypes: true })) if (e.isDirectory()) removeCgroupTree(join(full, e.name));
  try {
    rmdirSync(full);
  } catch {
    // still populated: the processes in it are killed in afterAll first
  }
}

// ---- processes -----------------------------------------------------------

export interface MoverOptions {
  uid?: number;
  cgroup?: string;
  openFirst?: string;
  /** Run a copy of the mover at this path, so its executable has another inode. */
  exe?: string;
}

/** A long-lived helper process answering one line per request line on stdin. */
export class LineProcess {
  private buffer = "";
  private readonly reader: ReadableStreamDefaultReader<Uint8Array>;
  constructor(readonly proc: ReturnType<typeof Bun.spawn>) {
    this.reader = (proc.stdout as ReadableStream<Uint8Array>).getReader() as ReadableStreamDefaultReader<Uint8Array>;
  }

  async line(): Promise<string> {
    for (;;) {
      const nl = this.buffer.indexOf("\n");
      if (nl >= 0) {
        const l = this.buffer.slice(0, nl);
        this.buffer = this.buffer.slice(nl + 1);
        return l;
      }
      const { value, done } = await this.reader.read();
      if (done) throw new Error(`process ${this.proc.pid} exited`);
      this.buffer += new TextDecoder().decode(value);
    }
  }

  async request(l: string): Promise<string> {
    const stdin = this.proc.stdin as import("bun").FileSink;
    stdin.write(`${l}\n`);
    await stdin.flush();
    return this.line();
  }
}

/** A long-lived actor process answering migration requests (test/fixtures/mover.c). */
export class Mover {
  readonly pid: number;
  private constructor(private readonly io: LineProcess) {
    this.pid = io.proc.pid;
  }

  static async start(opts: MoverOptions = {}): Promise<Mover> {
    const argv = [opts.exe ?? MOVER];
    if (opts.uid !== undefined) argv.push("--uid", String(opts.uid));
    if (opts.cgroup) argv.push("--cgroup", join(CGROOT, opts.cgroup));
    if (opts.openFirst) argv.push("--open-first", opts.openFirst);
    const m = new Mover(new LineProcess(Bun.spawn(argv, { stdin: "pipe", stdout: "pipe", stderr: "inherit" })));
    const ready = await m.io.line();
    if (!ready.startsWith("ready ")) throw new Error(`mover did not start: ${ready}`);
    movers.push(m);
    return m;
  }

  request(line: string): Promise<string> {
    return this.io.request(line);
  }

  /** Returns 0 on success or the errno of the failed write/clone. */
  async errno(line: string): Promise<number> {
    const r = await this.request(line);
    if (r === "ok") return 0;
    const m = /^err (\d+)$/.exec(r);
    if (!m) throw new Error(`unexpected mover reply '${r}' to '${line}'`);
    return Number(m[1]);
  }

  moveProcs(pid: number, dst: string): Promise<number> {
    return this.errno(`procs ${pid} ${join(CGROOT, dst)}`);
  }

  moveThread(tid: number, dst: string): Promise<number> {
    return this.errno(`threads ${tid} ${join(CGROOT, dst)}`);
  }

  cloneInto(dst: string): Promise<number> {
    return this.errno(`clone ${join(CGROOT, dst)}`);
  }

  async spawnThreads(n: number): Promise<number[]> {
    const r = await this.request(`threads-spawn ${n}`);
    return r.split(" ").slice(1).map(Number);
  }

  kill(): void {
    this.io.proc.kill(9);
  }
}

const movers: Mover[] = [];

/**
 * Ends `first` and starts movers until one gets its pid again (steered by
 * ns_last_pid), so that a --pid rule can be tried against a reused pid.
 */
export async function reusePid(first: Mover, start: () => Promise<Mover>): Promise<Mover> {
  const pid = first.pid;
  first.kill();
  await Bun.sleep(100);
  let second: Mover | null = null;
  for (let i = 0; i < 5 && second?.pid !== pid; i++) {
    second?.kill();
    writeFileSync("/proc/sys/kernel/ns_last_pid", String(pid - 1));
    second = await start();
  }
  if (second!.pid !== pid) throw new Error(`could not reuse pid ${pid} (got ${second!.pid})`);
  return second!;
}

export const EPERM = 1;
export const EACCES = 13;

/** Each suite calls this from its own afterAll: actors killed, cgwarden unloaded, cgroups removed. */
export async function cleanup(): Promise<void> {
  for (const m of movers.splice(0)) m.kill();
  await Bun.sleep(50);
  await cgw("unload");
  for (const full of created.splice(0).reverse()) removeCgroupTree(full);
}
