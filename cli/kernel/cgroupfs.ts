// Cgroup paths and ids. A cgroup's id is its directory's inode number on
// cgroup2, which is what the kernel's kernfs node id is, and what rules key on.
import { existsSync, lstatSync, readFileSync, readdirSync, realpathSync, statSync, statfsSync, type Dirent } from "node:fs";
import { isAbsolute, join, relative, resolve } from "node:path";
import { CliError, UsageError, shown } from "../errors.ts";
import { MAX_LEVEL } from "../object/abi.ts";
import { CGROUP2, findMount } from "./mounts.ts";

const CGROUP2_SUPER_MAGIC = 0x63677270;

export interface CgroupRef {
  id: bigint;
  /** Path inside the hierarchy, "/" for the root. */
  path: string;
  fsPath: string;
  level: number;
}

let mountPoint: string | undefined;

/**
 * Where cgroup2 is mounted. Found once per process (a walk of 10,000
 * cgroups asks 20,000 times, and each look parses the mount table); a
 * process that finds none looks again next time, since `load` may mount it.
 */
export function cgroupMount(): string {
  if (mountPoint) return mountPoint;
  const m = findMount("cgroup2", CGROUP2);
  if (!m) throw new CliError({ problem: "no cgroup2 filesystem is mounted", fix: "mount it with: mount -t cgroup2 none /sys/fs/cgroup" });
  mountPoint = m.mountPoint;
  return mountPoint;
}

/**
 * Accepts a cgroup path ("/system.slice/foo.service") or a filesystem path
 * that leads onto the cgroup2 mount ("/sys/fs/cgroup/system.slice", a
 * relative path, a symlink). Filesystem paths are judged by where they
 * resolve to (realpath), however they were written, so a symlink is accepted
 * or refused the same way through a relative and an absolute path.
 */
export function resolveCgroup(input: string, what = "cgroup"): CgroupRef {
  const fsPath = candidatePath(input, what, cgroupMount());
  return refOf(input, fsPath, what);
}

/**
 * The cgroup path a rule binds to. An existing cgroup is resolved as by
 * resolveCgroup(), whatever form it was given in. A path where nothing
 * exists yet, given as an absolute cgroup path (or under the mount), names
 * a cgroup that may be created later: `exists` is false. Templates (a `*`
 * in the last component) are never resolved: they name many cgroups.
 */
export function ruleCgroupPath(input: string, what = "cgroup"): { path: string; exists: boolean } {
  const mount = cgroupMount();
  const inMount = input === mount ? "/" : input.startsWith(`${mount}/`) ? input.slice(mount.length) : null;
  const asCgroupPath = inMount ?? input;
  if (asCgroupPath.slice(asCgroupPath.lastIndexOf("/") + 1).includes("*") && asCgroupPath.startsWith("/"))
    return { path: asCgroupPath, exists: false };
  const fsPath = candidatePath(input, what, mount);
  if (exists(fsPath) || lexists(input) || !isAbsolute(input)) return { path: refOf(input, fsPath, what).path, exists: true };
  return { path: asCgroupPath, exists: false };
}

function lexists(path: string): boolean {
  try {
    lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

// Longer inputs cannot name anything: the kernel refuses paths over PATH_MAX and names over NAME_MAX.
const PATH_MAX = 4095;
const NAME_MAX = 255;

/** The filesystem path `input` designates, before symlinks are resolved. */
function candidatePath(input: string, what: string, mount: string): string {
  if (!input) throw new UsageError({ problem: `${what} path is empty`, fix: `give a cgroup path such as /system.slice/foo.service` });
  if (input.includes("\0")) throw new UsageError({ problem: `${what} path '${shown(input)}' contains a NUL byte`, fix: `give a cgroup path without one` });
  if (Buffer.byteLength(input) > PATH_MAX || input.split("/").some((c) => Buffer.byteLength(c) > NAME_MAX))
    throw new UsageError({ problem: `${what} path '${shown(input)}' is too long (paths are at most ${PATH_MAX} bytes, names ${NAME_MAX})`, fix: `give an existing cgroup's path` });
  if (!isAbsolute(input)) return resolve(input);
  if (input === mount || input.startsWith(`${mount}/`)) return input;
  // A leading "/" is ambiguous: read it as a cgroup path first, as documented, then as a filesystem path.
  const inHierarchy = join(mount, cgroupRelative(input, what));
  if (!exists(inHierarchy) && exists(input)) return input;
  return inHierarchy;
}

/** Normalises a cgroup path; ".." may climb to the root of the hierarchy, not above it. */
function cgroupRelative(input: string, what: string): string {
  const parts: string[] = [];
  for (const c of input.split("/")) {
    if (c === "" || c === ".") continue;
    if (c !== "..") parts.push(c);
    else if (!parts.pop()) throw new UsageError({ problem: `${what} path '${shown(input)}' climbs above the cgroup root with '..'`, fix: `give a path inside the hierarchy` });
  }
  return parts.join("/");
}

function refOf(input: string, fsPath: string, what: string): CgroupRef {
  const mount = cgroupMount();
  const label = `${what} ${shown(input)}`;
  if (!exists(fsPath)) {
    if (/[\uFFFD\uD800-\uDFFF]/.test(input))
      throw new UsageError({ problem: `${label} is not valid UTF-8 text`, fix: `cgwarden names cgroups by UTF-8 paths, so give the path of a cgroup with a UTF-8 name` });
    throw new CliError({ problem: `${label} does not exist (looked for ${shown(fsPath)})`, fix: `create the cgroup or check the path` });
  }
  const real = realpathSync(fsPath);
  const rel = relative(mount, real);
  if (rel === ".." || rel.startsWith("../") || isAbsolute(rel))
    throw new CliError({ problem: `${label} is not on cgroup2: it resolves to ${shown(real)}, outside the cgroup2 mount ${mount}`, fix: `give a cgroup path or a path under ${mount}` });
  const st = statSync(real, { bigint: true });
  if (!st.isDirectory())
    throw new CliError({ problem: `${label} is a file (${shown(real)}), not a cgroup`, fix: `give a cgroup's directory` });
  if (Number(statfsSync(real).type) !== CGROUP2_SUPER_MAGIC)
    throw new CliError({ problem: `${label} is not on cgroup2 (${shown(real)} is on another filesystem mounted inside ${mount})`, fix: `give a cgroup directory` });
  const path = rel ? `/${rel}` : "/";
  const level = rel ? rel.split("/").length : 0;
  return { id: st.ino, path, fsPath: real, level };
}

/** existsSync, but never throws on odd input (ENAMETOOLONG, ELOOP): such paths do not exist for us. */
function exists(path: string): boolean {
  try {
    return existsSync(path);
  } catch {
    return false;
  }
}

/** Ancestor ids from the root down to the cgroup itself. */
export function ancestorChain(ref: CgroupRef): bigint[] {
  const mount = cgroupMount();
  const parts = ref.path === "/" ? [] : ref.path.slice(1).split("/");
  const chain: bigint[] = [];
  for (let i = 0; i <= parts.length; i++) chain.push(statSync(join(mount, ...parts.slice(0, i)), { bigint: true }).ino);
  return chain;
}

/** The cgroup of every thread of a process (threaded subtrees may split them), from /proc/PID/task. */
export function threadCgroups(pid: number): CgroupRef[] {
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`).sort((a, b) => Number(a) - Number(b));
  } catch {
    throw new CliError({ problem: `process ${pid} does not exist (it may have exited)`, fix: `give the id of a running process` });
  }
  const refs: CgroupRef[] = [];
  for (const tid of tids) {
    try {
      refs.push(cgroupOfPid(Number(tid), `/proc/${pid}/task/${tid}/cgroup`));
    } catch {
      // the thread exited while we looked: it moves nowhere
    }
  }
  return refs;
}

/** The cgroup a process lives in on cgroup2, from /proc/PID/cgroup. */
export function cgroupOfPid(pid: number, file = `/proc/${pid}/cgroup`): CgroupRef {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch {
    throw new CliError({ problem: `process ${pid} does not exist (it may have exited)`, fix: `give the id of a running process` });
  }
  const line = text.split("\n").find((l) => l.startsWith("0::"));
  if (!line) throw new CliError(`process ${pid} has no cgroup2 membership (is cgroup2 mounted?)`);
  return resolveCgroup(line.slice(3) || "/");
}

/** Resolves ids back to paths by walking the hierarchy (cgroupTree) once per process, and again at most once a second. */
export class CgroupNames {
  private byId: Map<bigint, string> | null = null;
  private walkedAt = 0;

  pathOf(id: bigint): string | null {
    if (!this.byId) this.rewalk();
    const hit = this.byId!.get(id);
    if (hit !== undefined) return hit;
    // Created since the last walk, or gone for good: walk again, but at most once a second
    // (a thousand records naming removed cgroups must not walk the tree a thousand times).
    if (performance.now() - this.walkedAt < 1000) return null;
    this.rewalk();
    return this.byId!.get(id) ?? null;
  }

  private rewalk(): void {
    this.byId = this.walk();
    this.walkedAt = performance.now();
  }

  private walk(): Map<bigint, string> {
    return new Map(cgroupTree("/").map((c) => [c.id, c.path]));
  }
}

// ---- the tree as path binding scans it (pins/store.ts) ----------------

function fsPathOf(path: string): string {
  return path === "/" ? cgroupMount() : join(cgroupMount(), path);
}

/** The id of the cgroup at a cgroup path, or null when there is none. */
export function cgroupIdAtPath(path: string): bigint | null {
  try {
    const st = statSync(fsPathOf(path), { bigint: true });
    return st.isDirectory() ? st.ino : null;
  } catch {
    return null;
  }
}

/**
 * A kernfs directory's link count is 2 plus its subdirectories: a leaf
 * cgroup (most of them) needs no readdir of its thirty-odd control files.
 */
function hasSubdirectories(nlink: bigint | number): boolean {
  return BigInt(nlink) !== 2n;
}

export function childCgroupNames(dir: string): string[] {
  let entries: Dirent[];
  try {
    if (!hasSubdirectories(statSync(fsPathOf(dir)).nlink)) return [];
    entries = readdirSync(fsPathOf(dir), { withFileTypes: true });
  } catch {
    return [];
  }
  return entries.filter((e) => e.isDirectory()).map((e) => e.name);
}

export interface LiveCgroup {
  path: string;
  id: bigint;
}

/** The live tree below `top` (a cgroup path), `top` included, in preorder with each directory's children by name. */
export function cgroupTree(top: string): LiveCgroup[] {
  const out: LiveCgroup[] = [];
  const visit = (path: string) => {
    let entries: Dirent[];
    try {
      const st = statSync(fsPathOf(path), { bigint: true });
      out.push({ path, id: st.ino });
      if (!hasSubdirectories(st.nlink)) return;
      entries = readdirSync(fsPathOf(path), { withFileTypes: true });
    } catch {
      return; // removed while walking
    }
    for (const e of entries.filter((x) => x.isDirectory()).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) visit(path === "/" ? `/${e.name}` : `${path}/${e.name}`);
  };
  visit(top);
  return out;
}

/** The pids in a cgroup's cgroup.procs; none when it is gone. */
export function cgroupPids(path: string): number[] {
  try {
    return readFileSync(join(fsPathOf(path), "cgroup.procs"), "utf8").split("\n").filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** Ids of the cgroups that exist: a bound entry outlives its cgroup when the cgroup went between a scan and its write. */
export function liveCgroupIds(): Set<bigint> {
  return new Set(cgroupTree("/").map((c) => c.id));
}
