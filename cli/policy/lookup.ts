// What the names in a rule stand for on the machine the policy is for:
// an executable's device and inode, a user's uid, a process's start time,
// a cgroup path in its canonical form. The command line and policy files
// both come here (through the selector table, selectors.ts, and the seal's
// managers), so a name means the same from either.
import { existsSync, lstatSync, readFileSync, readlinkSync, realpathSync, statSync } from "node:fs";
import { join } from "node:path";
import { CliError, UsageError, shown } from "../errors.ts";
import { provenIdentity } from "../kernel/inode.ts";
import { processFacts } from "../kernel/procfs.ts";
import { ruleCgroupPath } from "../kernel/cgroupfs.ts";
import { rulePathProblem } from "./paths.ts";

/** An executable as the kernel tells files apart. */
export interface ExeSpec {
  path: string;
  dev: bigint;
  ino: bigint;
  /** The inode's generation: set for a manager that is a file (see cli/kernel/inode.ts); --exe selectors match (dev, ino). */
  gen?: number;
}

/** A process as the kernel tells processes apart: a pid is reused, its start time with it is not. */
export interface PidSpec {
  tgid: number;
  startTicks: bigint;
}

/**
 * Who may change cgwarden's BPF state once it is sealed. A manager is any
 * process that really executed `exe`, or with `pid` that one process.
 */
export interface ManagerSpec {
  exe: ExeSpec;
  pid?: PidSpec;
}

/** The path a rule binds to, from any form the admin gives it in; see ruleCgroupPath(). */
export function rulePath(input: string, what = "cgroup"): string {
  const { path } = ruleCgroupPath(input, what);
  const p = rulePathProblem(path);
  if (p) throw new UsageError({ problem: `${what} path '${shown(path)}' ${p.problem}`, fix: p.fix });
  return path;
}

/**
 * An executable by what the kernel will compare: device and inode of the file
 * the path leads to. `root` is where the system the policy is for is mounted
 * (the initramfs applies the real root's policy before switching to it): the
 * path, and every symlink on the way, is followed as that system sees it.
 */
export function resolveExe(path: string, what: string, root = "/"): ExeSpec {
  const real = root === "/" ? (existsSync(path) ? realpathSync(path) : null) : realpathUnder(root, path);
  if (real === null) throw new CliError({ problem: `${what} ${path} does not exist${root === "/" ? "" : ` under ${root}`}`, fix: `give the path of the actor's executable` });
  const st = statSync(root === "/" ? real : join(root, real), { bigint: true });
  if (!st.isFile()) throw new CliError(`${what} ${path} is not a regular file`);
  return { path: real, dev: st.dev, ino: st.ino };
}

/** realpath as a process chrooted at `root` sees it; null when nothing is there. */
export function realpathUnder(root: string, path: string): string | null {
  let parts = path.split("/").filter((p) => p && p !== ".");
  const done: string[] = [];
  for (let hops = 0; parts.length; ) {
    const part = parts.shift()!;
    if (part === "..") {
      done.pop();
      continue;
    }
    const here = join(root, ...done, part);
    let st;
    try {
      st = lstatSync(here);
    } catch {
      return null;
    }
    if (!st.isSymbolicLink()) {
      done.push(part);
      continue;
    }
    if (++hops > 40) return null;
    const target = readlinkSync(here);
    // An absolute target starts again from that system's root, not ours.
    if (target.startsWith("/")) done.length = 0;
    parts = [...target.split("/").filter((p) => p && p !== "."), ...parts];
  }
  return `/${done.join("/")}`;
}

export function resolvePid(pid: number, what: string): PidSpec {
  const facts = processFacts(pid);
  if (facts.tgid !== pid) throw new CliError({ problem: `${what} ${pid} is a thread of process ${facts.tgid}`, fix: `give the process id` });
  return { tgid: facts.tgid, startTicks: facts.startTicks };
}

/** How messages name managers: by their flags on the command line; a policy file passes its own words. */
const MANAGER_FLAGS = { exe: "--manager-exe", pid: "--manager-pid" };

/**
 * Seal managers: executables by file, and running processes by pid (with
 * what that process really runs, read as /proc/PID/exe).
 */
export function parseManagers(exes: readonly string[], pids: readonly number[], root = "/", labels = MANAGER_FLAGS): ManagerSpec[] {
  // A manager that is a file is that file and no other: its generation too.
  const out: ManagerSpec[] = exes.map((path) => {
    const { path: real } = resolveExe(path, labels.exe, root);
    const { dev, ino, gen } = provenIdentity(join(root, real), `${labels.exe} ${real}`);
    return { exe: { path: real, dev, ino, gen } };
  });
  for (const pid of pids) {
    const facts = processFacts(pid);
    if (facts.tgid !== pid) throw new CliError({ problem: `${labels.pid} ${pid} is a thread of process ${facts.tgid}`, fix: `give the process id` });
    if (!facts.exe) throw new CliError({ problem: `${labels.pid} ${pid} runs no executable (a kernel thread)`, fix: `give a user process` });
    // The file it runs, even if that path now names another (an upgrade replaced it).
    out.push({ exe: facts.exe, pid: { tgid: pid, startTicks: facts.startTicks } });
  }
  return out;
}

export function uidOfUser(name: string, root = "/"): number {
  const passwd = existsSync(join(root, "etc/passwd")) ? readFileSync(join(root, "etc/passwd"), "utf8") : "";
  for (const line of passwd.split("\n")) {
    const [n, , uid] = line.split(":");
    if (n === name && uid !== undefined) return Number(uid);
  }
  // NSS (LDAP, sssd) answers for this system only.
  const p = root === "/" ? Bun.spawnSync(["getent", "passwd", name], { stdout: "pipe", stderr: "ignore" }) : null;
  const uid = p?.exitCode === 0 ? p.stdout.toString().split(":")[2] : undefined;
  if (uid !== undefined) return Number(uid);
  throw new CliError({ problem: `no user named '${name}'${root === "/" ? "" : ` in ${join(root, "etc/passwd")}`}`, fix: `give --uid instead, or create the user` });
}
