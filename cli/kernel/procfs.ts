// Facts about a live process, read the way the BPF side sees them.
import { readFileSync, readlinkSync, statSync } from "node:fs";
import { CliError, UsageError } from "../errors.ts";

export interface ProcessFacts {
  tgid: number;
  /** /proc/PID/stat field 22: boot-time clock ticks, the kernel's start_boottime / (1e9 / USER_HZ). */
  startTicks: bigint;
  /** Effective uid of the objective credentials (/proc/PID/status "Uid:" second field). */
  euid: number;
  comm: string;
  exe: { dev: bigint; ino: bigint; path: string } | null;
  /** Under ptrace (TracerPid non-zero): the kernel then vouches for no executable. */
  traced: boolean;
}

export function processFacts(pid: number): ProcessFacts {
  if (!Number.isInteger(pid) || pid <= 0) throw new UsageError(`'${pid}' is not a process id`);
  let stat: string;
  let status: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    status = readFileSync(`/proc/${pid}/status`, "utf8");
  } catch {
    throw new CliError({ problem: `process ${pid} does not exist (it may have exited)`, fix: `check the pid` });
  }
  // comm may contain spaces and parentheses: fields start after the last ')'.
  const close = stat.lastIndexOf(")");
  const comm = stat.slice(stat.indexOf("(") + 1, close);
  const fields = stat.slice(close + 2).split(" ");
  const startTicks = BigInt(fields[22 - 3] ?? "0");
  const tgid = Number(/^Tgid:\s+(\d+)/m.exec(status)?.[1] ?? pid);
  const euid = Number(/^Uid:\s+\d+\s+(\d+)/m.exec(status)?.[1] ?? -1);
  const traced = Number(/^TracerPid:\s+(\d+)/m.exec(status)?.[1] ?? 0) !== 0;
  let exe: ProcessFacts["exe"] = null;
  try {
    const st = statSync(`/proc/${pid}/exe`, { bigint: true });
    exe = { dev: st.dev, ino: st.ino, path: readlinkSync(`/proc/${pid}/exe`) };
  } catch {
    exe = null; // kernel threads have no executable
  }
  return { tgid, startTicks, euid, comm, exe, traced };
}
