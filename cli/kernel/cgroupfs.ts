// Cgroup paths and ids. A cgroup's id is its directory's inode number on
// cgroup2, which is what the kernel's kernfs node id is, and what rules key on.
import { existsSync, readFileSync, readdirSync, realpathSync, statSync, statfsSync, type Dirent } from "node:fs";
import { isAbsolute, join, relative, resolve } from "node:path";
import { CliError, UsageError } from "../errors.ts";
import { MAX_LEVEL } from "../policy/abi.ts";
import { findMount } from "./mounts.ts";

const CGROUP2_SUPER_MAGIC = 0x63677270;

export interface CgroupRef {
  id: bigint;
  /** Path inside the hierarchy, "/" for the root. */
  path: string;
  fsPath: string;
  level: number;
}

export function cgroupMount(): string {
  const m = findMount("cgroup2", "/sys/fs/cgroup");
  if (!m) throw new CliError("no cgroup2 filesystem is mounted; mount it with: mount -t cgroup2 none /sys/fs/cgroup");
  return m.mountPoint;
}

/**
 * Accepts a cgroup path ("/system.slice/foo.service") or a filesystem path
 * under the cgroup2 mount ("/sys/fs/cgroup/system.slice"); relative paths are
 * taken from the current directory and must lead under the mount.
 */
export function resolveCgroup(input: string, what = "cgroup"): CgroupRef {
  if (!input) throw new UsageError(`${what} path is empty`);
  const mount = cgroupMount();
  let fsPath: string;
  if (!isAbsolute(input)) fsPath = resolve(input);
  else if (input === mount || input.startsWith(`${mount}/`)) fsPath = input;
  else fsPath = join(mount, input);

  if (!existsSync(fsPath)) {
    // "/tmp" is read as the cgroup /tmp; if it names something elsewhere, say what it is.
    if (isAbsolute(input) && fsPath !== input && existsSync(input))
      throw new CliError(`${what} ${input} is not on cgroup2: it is outside the cgroup2 mount ${mount}; give a cgroup path or a path under ${mount}`);
    throw new CliError(`${what} ${input} does not exist (looked for ${fsPath}); create it or check the path`);
  }
  const real = realpathSync(fsPath);
  const st = statSync(real, { bigint: true });
  if (!st.isDirectory()) throw new CliError(`${what} ${input} is not a directory (${real}); give a cgroup directory`);
  if (Number(statfsSync(real).type) !== CGROUP2_SUPER_MAGIC)
    throw new CliError(`${what} ${input} is not on cgroup2 (${real}); cgroup v2 lives at ${mount}`);
  const rel = relative(mount, real);
  if (rel.startsWith("..")) throw new CliError(`${what} ${input} is outside the cgroup2 mount ${mount}`);
  const path = `/${rel}`.replace(/\/$/, "") || "/";
  const level = rel ? rel.split("/").length : 0;
  return { id: st.ino, path, fsPath: real, level };
}

/** Refuses anchors the BPF side cannot see (it reads ancestors down to MAX_LEVEL only). */
export function requireRuleDepth(ref: CgroupRef): void {
  if (ref.level > MAX_LEVEL)
    throw new CliError(`cgroup ${ref.path} is ${ref.level} levels deep; rules can sit at most ${MAX_LEVEL} levels deep`);
}

/** Ancestor ids from the root down to the cgroup itself. */
export function ancestorChain(ref: CgroupRef): bigint[] {
  const mount = cgroupMount();
  const parts = ref.path === "/" ? [] : ref.path.slice(1).split("/");
  const chain: bigint[] = [];
  for (let i = 0; i <= parts.length; i++) chain.push(statSync(join(mount, ...parts.slice(0, i)), { bigint: true }).ino);
  return chain;
}

/** The cgroup a process lives in on cgroup2, from /proc/PID/cgroup. */
export function cgroupOfPid(pid: number): CgroupRef {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/cgroup`, "utf8");
  } catch {
    throw new CliError(`process ${pid} does not exist`);
  }
  const line = text.split("\n").find((l) => l.startsWith("0::"));
  if (!line) throw new CliError(`process ${pid} has no cgroup2 membership (is cgroup2 mounted?)`);
  return resolveCgroup(line.slice(3) || "/");
}

/** Resolves ids back to paths by walking the hierarchy once per process. */
export class CgroupNames {
  private byId: Map<bigint, string> | null = null;

  pathOf(id: bigint): string | null {
    this.byId ??= this.walk();
    const hit = this.byId.get(id);
    if (hit !== undefined) return hit;
    this.byId = this.walk(); // created since the last walk
    return this.byId.get(id) ?? null;
  }

  private walk(): Map<bigint, string> {
    const mount = cgroupMount();
    const out = new Map<bigint, string>();
    const visit = (fsPath: string, path: string) => {
      out.set(statSync(fsPath, { bigint: true }).ino, path);
      let entries: Dirent[];
      try {
        entries = readdirSync(fsPath, { withFileTypes: true });
      } catch {
        return; // removed while walking
      }
      for (const e of entries) if (e.isDirectory()) visit(join(fsPath, e.name), path === "/" ? `/${e.name}` : `${path}/${e.name}`);
    };
    visit(mount, "/");
    return out;
  }
}
