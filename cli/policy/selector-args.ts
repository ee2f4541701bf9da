// Selectors from the command line: --exe, --uid/--user, --cgroup, --pid.
import { existsSync, lstatSync, readFileSync, readlinkSync, realpathSync, statSync } from "node:fs";
import { join } from "node:path";
import type { ArgsDef } from "citty";
import { CliError, UsageError, shown } from "../errors.ts";
import { provenIdentity } from "../kernel/inode.ts";
import { processFacts } from "../kernel/procfs.ts";
import { ruleCgroupPath } from "../kernel/cgroupfs.ts";
import { parsePid, parseUid } from "./numbers.ts";
import { rulePathProblem } from "./paths.ts";
import type { ManagerSpec, SelectorSpec } from "./spec.ts";

export const selectorArgs = {
  exe: { type: "string", description: "Actor's executable (matched by device and inode)", valueHint: "PATH" },
  uid: { type: "string", description: "Actor's effective uid", valueHint: "UID" },
  user: { type: "string", description: "Actor's effective user, by name", valueHint: "NAME" },
  cgroup: { type: "string", description: "Actor lives in the subtree of the cgroup at this path or template", valueHint: "PATH" },
  pid: { type: "string", description: "That one process (pid and start time)", valueHint: "PID" },
} as const satisfies ArgsDef;

export interface SelectorInput {
  exe?: unknown;
  uid?: unknown;
  user?: unknown;
  cgroup?: unknown;
  pid?: unknown;
}

/** A selector's one value (commands/_argv.ts has refused a repeated selector already). */
function single(flag: string, v: unknown): string | undefined {
  if (v === undefined || v === false) return undefined;
  if (v === true || v === "") throw new UsageError(`--${flag} needs a value`);
  return String(v);
}

export function parseSelectors(input: SelectorInput): SelectorSpec {
  const selectors: SelectorSpec = {};
  const exe = single("exe", input.exe);
  const uid = single("uid", input.uid);
  const user = single("user", input.user);
  const cgroup = single("cgroup", input.cgroup);
  const pid = single("pid", input.pid);

  if (uid !== undefined && user !== undefined) throw new UsageError("--uid and --user both name the actor's uid; give one");
  if (exe !== undefined) selectors.exe = resolveExe(exe, "--exe");
  if (uid !== undefined) {
    selectors.uid = parseUid(uid);
  }
  if (user !== undefined) selectors.uid = uidOfUser(user);
  if (cgroup !== undefined) selectors.cgroup = rulePath(cgroup, "--cgroup");
  if (pid !== undefined) {
    selectors.pid = resolvePid(parsePid(pid, "--pid"), "--pid");
  }
  if (Object.keys(selectors).length === 0)
    throw new UsageError("give at least one selector: --exe, --uid, --user, --cgroup or --pid");
  return selectors;
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
export function resolveExe(path: string, what: string, root = "/"): { path: string; dev: bigint; ino: bigint } {
  const real = root === "/" ? (existsSync(path) ? realpathSync(path) : null) : realpathUnder(root, path);
  if (real === null) throw new CliError(`${what} ${path} does not exist${root === "/" ? "" : ` under ${root}`}; give the path of the actor's executable`);
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

export function resolvePid(pid: number, what: string): { tgid: number; startTicks: bigint } {
  const facts = processFacts(pid);
  if (facts.tgid !== pid) throw new CliError(`${what} ${pid} is a thread of process ${facts.tgid}; give the process id`);
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
    if (facts.tgid !== pid) throw new CliError(`${labels.pid} ${pid} is a thread of process ${facts.tgid}; give the process id`);
    if (!facts.exe) throw new CliError(`${labels.pid} ${pid} runs no executable (a kernel thread); give a user process`);
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
  throw new CliError(`no user named '${name}'${root === "/" ? "" : ` in ${join(root, "etc/passwd")}`}; give --uid instead, or create the user`);
}
