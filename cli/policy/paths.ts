// The paths rules are bound to: their syntax, templates, and node ids.
//
// A rule names a cgroup path ("/system.slice/foo.service") or a template
// whose last component holds one `*` ("/system.slice/*.service"). A
// recursive template puts `**` before that component
// ("/system.slice/**/*.service"): it matches at any depth below its anchor,
// and the outermost match wins (below a cgroup it matched, it no longer
// applies). The BPF side keys policy by node: a hash of the path, with the
// epoch in the top bit (bpf/cgwarden.h). Matching here is the TypeScript
// twin of template_matches() in bpf/binding.bpf.h.
import type { Problem } from "../errors.ts";
import { MAX_LEVEL, NODE_EPOCH, PATH_LEN, TEMPLATE_PART } from "../object/abi.ts";
import { CGROUP2 } from "../kernel/mounts.ts";

export interface Template {
  /** The directory whose children the template matches; a recursive template's anchor. */
  dir: string;
  prefix: string;
  suffix: string;
  /** A `**` component before the last: matches cgroups at any depth below dir, its children included. */
  recursive: boolean;
}

/** The component that makes a template recursive. */
export const ANY_DEPTH = "**";

export interface RulePath {
  path: string;
  /** Set when the last component holds a `*`. */
  template?: Template;
}

/**
 * The characters no rule path holds: C0, DEL and C1 controls. A character
 * class body, for a RegExp here and the policy schema's pattern alike, so
 * that the command line and a file refuse the same paths.
 */
export const CONTROL_CHARACTERS = "\\u0000-\\u001f\\u007f-\\u009f";
const CONTROL = new RegExp(`[${CONTROL_CHARACTERS}]`, "u");

/** Why `path` cannot be a rule's path, or null when it can. */
export function rulePathProblem(path: string): Problem | null {
  if (!path.startsWith("/")) return { problem: "is not absolute", fix: "cgroup paths start with '/' (the root of the cgroup2 hierarchy)" };
  if (CONTROL.test(path)) return { problem: "contains a control character", fix: "cgroup names in rules have none" };
  // A rule path is as seen from the cgroup2 mount, never through it (the command line resolves that form first).
  if (path === CGROUP2 || path.startsWith(`${CGROUP2}/`))
    return { problem: `names the cgroup2 mount point`, fix: `write the path as seen from the mount, like ${path.slice(CGROUP2.length) || "/"}` };
  if (/[\uFFFD\uD800-\uDFFF]/u.test(path)) return { problem: "is not valid UTF-8 text", fix: "cgwarden names cgroups by UTF-8 paths" };
  if (Buffer.byteLength(path) >= PATH_LEN - 1) return { problem: `is ${Buffer.byteLength(path)} bytes long`, fix: `rule paths are at most ${PATH_LEN - 2} bytes` };
  if (path === "/") return null;
  if (path.endsWith("/")) return { problem: "ends with '/'", fix: "drop the trailing slash" };
  const parts = path.slice(1).split("/");
  if (parts.some((c) => c === "")) return { problem: "has an empty component ('//')", fix: "write each '/' once" };
  if (parts.some((c) => c === "." || c === "..")) return { problem: "has a '.' or '..' component", fix: "give the path without them" };
  if (parts.length > MAX_LEVEL) return { problem: `is ${parts.length} levels deep`, fix: `rules can sit at most ${MAX_LEVEL} levels deep` };
  const last = parts.at(-1)!;
  if (parts.some((c) => c.includes(ANY_DEPTH) && c !== ANY_DEPTH))
    return { problem: `has '**' inside a component`, fix: `'**' stands alone, as in /system.slice/**/*.service` };
  const deep = parts.filter((c) => c === ANY_DEPTH).length;
  if (deep > 1) return { problem: `has ${deep} '**' components`, fix: `a recursive template holds one` };
  if (last === ANY_DEPTH) return { problem: "ends with '**'", fix: "name what it matches at any depth after it, as in /system.slice/**/*.service" };
  if (deep === 1 && parts.at(-2) !== ANY_DEPTH)
    return { problem: "has components between '**' and its last", fix: "'**' comes right before the name it matches, as in /user.slice/**/session-*.scope" };
  if (deep === 1 && !last.includes("*")) return { problem: "has '**' but no '*' in its last component", fix: "write the name as prefix*suffix, as in /system.slice/**/*.service" };
  if (parts.slice(0, -1).some((c) => c.includes("*") && c !== ANY_DEPTH)) return { problem: "has a '*' before its last component", fix: "templates match only the last component" };
  const stars = last.split("*").length - 1;
  if (stars > 1) return { problem: `has ${stars} '*' in its last component`, fix: `a template holds one (prefix*suffix)` };
  if (stars === 1) {
    const [prefix, suffix] = last.split("*") as [string, string];
    for (const [what, part] of [["prefix", prefix], ["suffix", suffix]] as const)
      if (Buffer.byteLength(part) >= TEMPLATE_PART) return { problem: `has a template ${what} of ${Buffer.byteLength(part)} bytes`, fix: `at most ${TEMPLATE_PART - 1}` };
  }
  return null;
}

/** Splits a valid rule path; call rulePathProblem() first. */
export function parseRulePath(path: string): RulePath {
  if (path === "/" || !path.slice(path.lastIndexOf("/") + 1).includes("*")) return { path };
  const cut = path.lastIndexOf("/");
  const [prefix, suffix] = path.slice(cut + 1).split("*") as [string, string];
  const dir = cut === 0 ? "/" : path.slice(0, cut);
  if (baseName(dir) === ANY_DEPTH) return { path, template: { dir: parentPath(dir), prefix, suffix, recursive: true } };
  return { path, template: { dir, prefix, suffix, recursive: false } };
}

/** How many levels below the root a path is: "/" is 0, "/a" is 1. */
export function levelOf(path: string): number {
  return path === "/" ? 0 : path.split("/").length - 1;
}

export function childPath(dir: string, name: string): string {
  return dir === "/" ? `/${name}` : `${dir}/${name}`;
}

export function parentPath(path: string): string {
  const cut = path.lastIndexOf("/");
  return cut <= 0 ? "/" : path.slice(0, cut);
}

export function baseName(path: string): string {
  return path.slice(path.lastIndexOf("/") + 1);
}

/** As template_matches() in BPF: bytes, not characters. */
export function templateMatches(t: Template, name: string): boolean {
  const n = Buffer.from(name, "utf8");
  const p = Buffer.from(t.prefix, "utf8");
  const s = Buffer.from(t.suffix, "utf8");
  if (p.length + s.length > n.length) return false;
  return n.subarray(0, p.length).equals(p) && n.subarray(n.length - s.length).equals(s);
}

/** Two name patterns some one name matches both. Templates that can meet at one cgroup are refused, so BPF's first match is the only one. */
export function patternsOverlap(a: Template, b: Template): boolean {
  const compatible = (x: string, y: string, at: "start" | "end") =>
    at === "start" ? x.startsWith(y) || y.startsWith(x) : x.endsWith(y) || y.endsWith(x);
  return compatible(a.prefix, b.prefix, "start") && compatible(a.suffix, b.suffix, "end");
}

const NODE_MASK = NODE_EPOCH - 1n;

/** The node id of a path or template under an epoch (0 or 1); never 0. */
export function nodeOf(path: string, epoch: number): bigint {
  // Bun's hasher: node:crypto would cost every command a few ms of start-up (test/bench).
  const h = new Bun.CryptoHasher("sha256").update(path).digest().readBigUInt64LE(0) & NODE_MASK;
  return (h === 0n ? 1n : h) | (epoch ? NODE_EPOCH : 0n);
}

export function nodeEpoch(node: bigint): number {
  return node & NODE_EPOCH ? 1 : 0;
}

/** A node's identity across epochs: node_stats is keyed by it. */
export function nodeBase(node: bigint): bigint {
  return node & NODE_MASK;
}
