// Selectors from the command line: --exe, --uid/--user, --cgroup, --pid.
import { existsSync, readFileSync, realpathSync, statSync } from "node:fs";
import type { ArgsDef } from "citty";
import { CliError, UsageError } from "../errors.ts";
import { processFacts } from "../kernel/procfs.ts";
import { requireRuleDepth, resolveCgroup } from "../kernel/cgroupfs.ts";
import type { Selectors } from "./selectors.ts";

export const selectorArgs = {
  exe: { type: "string", description: "Actor's executable (matched by device and inode)", valueHint: "PATH" },
  uid: { type: "string", description: "Actor's effective uid", valueHint: "UID" },
  user: { type: "string", description: "Actor's effective user, by name", valueHint: "NAME" },
  cgroup: { type: "string", description: "Actor lives in this cgroup's subtree", valueHint: "PATH" },
  pid: { type: "string", description: "That one process (pid and start time)", valueHint: "PID" },
} as const satisfies ArgsDef;

export interface SelectorInput {
  exe?: unknown;
  uid?: unknown;
  user?: unknown;
  cgroup?: unknown;
  pid?: unknown;
}

/** What a rule's selectors were given as, for display. */
export interface SelectorLabels {
  exePath?: string;
  cgroupPath?: string;
}

function single(flag: string, v: unknown): string | undefined {
  if (v === undefined || v === false) return undefined;
  if (Array.isArray(v))
    throw new UsageError(`--${flag} given ${v.length} times; selectors in one rule must all match, so give separate rules for alternatives`);
  if (v === true || v === "") throw new UsageError(`--${flag} needs a value`);
  return String(v);
}

export function parseSelectors(input: SelectorInput): { selectors: Selectors; labels: SelectorLabels } {
  const selectors: Selectors = {};
  const labels: SelectorLabels = {};
  const exe = single("exe", input.exe);
  const uid = single("uid", input.uid);
  const user = single("user", input.user);
  const cgroup = single("cgroup", input.cgroup);
  const pid = single("pid", input.pid);

  if (uid !== undefined && user !== undefined) throw new UsageError("--uid and --user both name the actor's uid; give one");
  if (exe !== undefined) {
    if (!existsSync(exe)) throw new CliError(`--exe ${exe} does not exist; give the path of the actor's executable`);
    const real = realpathSync(exe);
    const st = statSync(real, { bigint: true });
    if (!st.isFile()) throw new CliError(`--exe ${exe} is not a regular file`);
    selectors.exe = { dev: st.dev, ino: st.ino };
    labels.exePath = real;
  }
  if (uid !== undefined) {
    if (!/^(0|[1-9][0-9]*)$/.test(uid) || Number(uid) > 0xfffffffe) throw new UsageError(`--uid takes a numeric uid from 0 to ${0xfffffffe}, not '${uid}'`);
    selectors.uid = Number(uid);
  }
  if (user !== undefined) selectors.uid = uidOfUser(user);
  if (cgroup !== undefined) {
    const ref = resolveCgroup(cgroup, "--cgroup");
    requireRuleDepth(ref);
    selectors.cgroup = ref.id;
    labels.cgroupPath = ref.path;
  }
  if (pid !== undefined) {
    if (!/^[1-9][0-9]*$/.test(pid) || Number(pid) > 1 << 22) throw new UsageError(`--pid takes a process id from 1 to ${1 << 22}, not '${pid}'`);
    const facts = processFacts(Number(pid));
    if (facts.tgid !== Number(pid)) throw new CliError(`--pid ${pid} is a thread of process ${facts.tgid}; give the process id`);
    selectors.pid = { tgid: facts.tgid, startTicks: facts.startTicks };
  }
  if (Object.keys(selectors).length === 0)
    throw new UsageError("give at least one selector: --exe, --uid, --user, --cgroup or --pid");
  return { selectors, labels };
}

function uidOfUser(name: string): number {
  const passwd = existsSync("/etc/passwd") ? readFileSync("/etc/passwd", "utf8") : "";
  for (const line of passwd.split("\n")) {
    const [n, , uid] = line.split(":");
    if (n === name && uid !== undefined) return Number(uid);
  }
  const p = Bun.spawnSync(["getent", "passwd", name], { stdout: "pipe", stderr: "ignore" });
  const uid = p.exitCode === 0 ? p.stdout.toString().split(":")[2] : undefined;
  if (uid !== undefined) return Number(uid);
  throw new CliError(`no user named '${name}'; give --uid instead, or create the user`);
}
