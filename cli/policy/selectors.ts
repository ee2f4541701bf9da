// The selectors: what an allow or delegate rule says about the actor. This
// file is each selector's one home, two tables read by every layer:
//
//   GIVEN      the ways to give one: its option and file key (the same
//              word), help, value hint, the schema of its file value, and
//              how a value resolves on the machine the policy is for.
//              `user` is a second way to give `uid`.
//   ENCODING   what a resolved selector is: how a rule names it (identity,
//              export, describe), what may change under that name (an
//              upgraded binary's inode), its kernel form (the selector key
//              gate_match() looks up in bpf/decide.bpf.h), and its fields
//              in the rule record.
//
// The argument parser (selectorArgs, parseSelectors), the schema
// (file/schema.ts), the spec's identity (spec.ts), the compiler, the store,
// describe and the file resolver (file/resolve.ts) all read these.
import type { ArgsDef } from "citty";
import { MAX_LEVEL, PID_MAX, Selector, UID_MAX, type RuleValue, type SelectorName } from "../object/abi.ts";
import { UsageError, type Problem } from "../errors.ts";
import { parsePid, parseUid } from "./numbers.ts";
import { CONTROL_CHARACTERS } from "./paths.ts";
import { resolveExe, resolvePid, rulePath, uidOfUser, type ExeSpec, type PidSpec } from "./lookup.ts";

export type { SelectorName };

/** A conjunction: every selector present must match the actor. */
export interface SelectorSpec {
  exe?: ExeSpec;
  uid?: number;
  /** A rule path or template: the actor lives in the subtree of a cgroup bound to it. */
  cgroup?: string;
  pid?: PidSpec;
}

/** A resolved selector's value in a spec: an executable's path and inode, a uid, a rule path, a process. */
export type SelectorValue<K extends SelectorName> = NonNullable<SelectorSpec[K]>;

interface Given<K extends SelectorName, FileValue extends string | number> {
  /** The selector it gives. */
  selector: K;
  /** --help, and the schema's description of the file key. */
  description: string;
  valueHint: string;
  /** The file value's JSON Schema; the command line's values are checked by fromArg. */
  schema: object;
  /** A command-line value (the option's own name for messages). */
  fromArg(text: string, flag: string): SelectorValue<K>;
  /** A file's value, already checked against `schema`, resolved on the system mounted at `root`. */
  fromFile(value: FileValue, root: string): SelectorValue<K>;
}

const given = <K extends SelectorName, F extends string | number>(g: Given<K, F>) => g;

/** In the order of --help, the schema, and the policy file's keys. */
export const GIVEN = {
  exe: given<"exe", string>({
    selector: "exe",
    description: "The executable the actor runs, as an absolute path (matched by device and inode).",
    valueHint: "PATH",
    schema: {
      title: "executable path",
      type: "string",
      allOf: [
        { description: "give the executable's absolute path, e.g. /usr/bin/crun", pattern: "^/" },
        { description: "control characters (newline, tab, NUL...) cannot be part of the path", pattern: `^[^${CONTROL_CHARACTERS}]*$` },
      ],
    },
    fromArg: (text, flag) => resolveExe(text, flag),
    fromFile: (path, root) => resolveExe(path, "exe", root),
  }),
  uid: given<"uid", number>({
    selector: "uid",
    description: "The actor's effective uid.",
    valueHint: "UID",
    schema: { type: "integer", minimum: 0, maximum: UID_MAX },
    fromArg: (text, flag) => parseUid(text, flag),
    fromFile: (uid) => uid,
  }),
  user: given<"uid", string>({
    selector: "uid",
    description: "The actor's effective user, by name (looked up when the rule is made or the policy applied).",
    valueHint: "NAME",
    schema: {
      title: "user name",
      type: "string",
      allOf: [{ description: "a user name has letters, digits, '_', '.', '-' (and may end in '$')", pattern: "^[A-Za-z0-9_.][A-Za-z0-9_.-]*\\$?$" }],
    },
    fromArg: (name) => uidOfUser(name),
    fromFile: (name, root) => uidOfUser(name, root),
  }),
  cgroup: given<"cgroup", string>({
    selector: "cgroup",
    description: "The actor lives in the subtree of a cgroup at this path or template.",
    valueHint: "PATH",
    schema: { $ref: "#/$defs/cgroupPath" },
    fromArg: (text, flag) => rulePath(text, flag),
    // The schema's cgroup-path format has judged it already.
    fromFile: (path) => path,
  }),
  pid: given<"pid", number>({
    selector: "pid",
    description: "That one process (matched by pid and start time, read when the rule is made).",
    valueHint: "PID",
    schema: { type: "integer", minimum: 1, maximum: PID_MAX },
    fromArg: (text, flag) => resolvePid(parsePid(text, flag), flag),
    fromFile: (pid) => resolvePid(pid, "pid"),
  }),
} as const;

export type GivenName = keyof typeof GIVEN;
export const GIVEN_NAMES = Object.keys(GIVEN) as GivenName[];

/** Two ways of giving one selector given together (--uid and --user, or uid and user in a file): the problem and its fix. */
export function givenTwice(names: readonly string[], selector: SelectorName): Problem {
  return { problem: `${names.join(" and ")} both name the actor's ${selector}`, fix: "give one" };
}

/** Conflicting ways of giving one selector, for the schema's rule and the command line's check alike. */
export const SAME_SELECTOR = GIVEN_NAMES.map((n) => GIVEN_NAMES.filter((m) => GIVEN[m].selector === GIVEN[n].selector)).filter((g, i, all) => g.length > 1 && all.findIndex((h) => h[0] === g[0]) === i);

/** The options of allow and delegate. */
export const selectorArgs = Object.fromEntries(
  GIVEN_NAMES.map((n) => [n, { type: "string", description: GIVEN[n].description.replace(/\.$/, ""), valueHint: GIVEN[n].valueHint }]),
) as { [N in GivenName]: { type: "string"; description: string; valueHint: string } } satisfies ArgsDef;

/** A selector's one value (commands/_argv.ts has refused a repeated selector already). */
function single(flag: string, v: unknown): string | undefined {
  if (v === undefined || v === false) return undefined;
  if (v === true || v === "") throw new UsageError(`--${flag} needs a value`);
  return String(v);
}

/** Selectors from the command line, each resolved on this machine. */
export function parseSelectors(input: Partial<Record<GivenName, unknown>>): SelectorSpec {
  const texts = GIVEN_NAMES.map((n) => [n, single(n, input[n])] as const).filter(([, t]) => t !== undefined);
  for (const group of SAME_SELECTOR) {
    const both = group.filter((n) => texts.some(([m]) => m === n));
    if (both.length > 1) throw new UsageError(givenTwice(both.map((n) => `--${n}`), GIVEN[both[0]!].selector));
  }
  const spec: Record<string, unknown> = {};
  for (const [n, text] of texts) spec[GIVEN[n].selector] = GIVEN[n].fromArg(text!, `--${n}`);
  if (texts.length === 0) throw new UsageError({ problem: "the rule names no actor", fix: `give at least one selector: ${GIVEN_NAMES.map((n) => `--${n}`).join(", ").replace(/, ([^,]*)$/, " or $1")}` });
  return spec as SelectorSpec;
}

/** What a policy file entry gives, key by key (the schema has checked each value's form). */
export function resolveFileSelectors(entry: Partial<Record<GivenName, string | number>>, root: string, attempt: <T>(key: GivenName, fn: () => T) => T | undefined): SelectorSpec {
  const spec: Record<string, unknown> = {};
  for (const n of GIVEN_NAMES) {
    const v = entry[n];
    if (v === undefined) continue;
    const g = GIVEN[n] as Given<SelectorName, string | number>;
    spec[g.selector] = attempt(n, () => g.fromFile(v, root));
  }
  return spec as SelectorSpec;
}

// ---- what a resolved selector is -----------------------------------------

/** The selectors in kernel terms, as the model matches them (see selectorsMatch): a process as its spec names it. */
export type PidKey = PidSpec;

export interface ExeKey {
  dev: bigint;
  ino: bigint;
}

/** A conjunction: every selector present must match. */
export interface Selectors {
  pid?: PidKey;
  exe?: ExeKey;
  uid?: number;
  /** The node of a path or template; the actor matches when a cgroup of its chain carries it. */
  cgroup?: bigint;
}

interface Encoding<K extends SelectorName> {
  /** The value as a rule names it: a file's value (export) and an option's (--exe PATH). */
  written(v: SelectorValue<K>): string | number;
  /** What may change while the rule stays the same rule (an upgraded binary's inode, a pid's start): "" for nothing. */
  attribute(v: SelectorValue<K>): string;
  /** In kernel terms; `nodeOf` gives a rule path's node. */
  kernel(v: SelectorValue<K>, nodeOf: (path: string) => bigint): NonNullable<Selectors[K]>;
  /** The selector key's two values (struct cgw_selector_key). */
  key(k: NonNullable<Selectors[K]>): [bigint, bigint];
  /** Its fields of the rule record (struct cgw_rule), and back. */
  record(v: SelectorValue<K>, nodeOf: (path: string) => bigint): Partial<RuleValue>;
  fromRecord(r: RuleValue): SelectorValue<K>;
}

/** In the order rules name them (identity, export, describe). */
const ENCODING: { [K in SelectorName]: Encoding<K> } = {
  exe: {
    written: (e) => e.path,
    attribute: (e) => `${e.dev}:${e.ino}`,
    kernel: (e) => ({ dev: e.dev, ino: e.ino }),
    key: (k) => [k.dev, k.ino],
    record: (e) => ({ exe_dev: e.dev, exe_ino: e.ino, exe_path: e.path }),
    fromRecord: (r) => ({ path: r.exe_path, dev: r.exe_dev, ino: r.exe_ino }),
  },
  uid: {
    written: (uid) => uid,
    attribute: () => "",
    kernel: (uid) => uid,
    key: (uid) => [BigInt(uid), 0n],
    record: (uid) => ({ uid }),
    fromRecord: (r) => r.uid,
  },
  cgroup: {
    written: (path) => path,
    attribute: () => "",
    kernel: (path, nodeOf) => nodeOf(path),
    key: (node) => [node, 0n],
    record: (path, nodeOf) => ({ sel_node: nodeOf(path), sel_cgroup_path: path }),
    fromRecord: (r) => r.sel_cgroup_path,
  },
  pid: {
    written: (p) => p.tgid,
    attribute: (p) => `${p.startTicks}`,
    kernel: (p) => ({ tgid: p.tgid, startTicks: p.startTicks }),
    key: (k) => [BigInt(k.tgid), k.startTicks],
    record: (p) => ({ pid: p.tgid, pid_start: p.startTicks }),
    fromRecord: (r) => ({ tgid: r.pid, startTicks: r.pid_start }),
  },
};

export const SELECTOR_NAMES = Object.keys(ENCODING) as SelectorName[];

/** Each selector a spec holds, in naming order, with its encoding. */
function present(s: SelectorSpec): Array<{ name: SelectorName; value: never; enc: Encoding<SelectorName> }> {
  return SELECTOR_NAMES.filter((n) => s[n] !== undefined).map((name) => ({ name, value: s[name] as never, enc: ENCODING[name] as Encoding<SelectorName> }));
}

/** The selectors as a rule names them: [["exe", "/usr/bin/crun"], ["uid", 0]]. */
export function writtenSelectors(s: SelectorSpec): Array<[SelectorName, string | number]> {
  return present(s).map(({ name, value, enc }) => [name, enc.written(value)]);
}

/** What identifies a gate rule's selectors, every selector named even when absent. */
export function selectorIdentity(s: SelectorSpec): string {
  return SELECTOR_NAMES.map((n) => `${n}=${s[n] === undefined ? "" : (ENCODING[n] as Encoding<SelectorName>).written(s[n] as never)}`).join(" ");
}

/** What may change under that identity. */
export function selectorAttributes(s: SelectorSpec): string {
  return SELECTOR_NAMES.map((n) => (s[n] === undefined ? "" : (ENCODING[n] as Encoding<SelectorName>).attribute(s[n] as never))).join("/");
}

/** The selectors in kernel terms. */
export function kernelSelectors(s: SelectorSpec, nodeOf: (path: string) => bigint): Selectors {
  return Object.fromEntries(present(s).map(({ name, value, enc }) => [name, enc.kernel(value, nodeOf)])) as Selectors;
}

/** The selector keys a gate rule needs: [selector code, value, value2]. */
export function selectorKeys(k: Selectors): Array<[number, bigint, bigint]> {
  return SELECTOR_NAMES.filter((n) => k[n] !== undefined).map((n) => [Selector[n], ...(ENCODING[n] as Encoding<SelectorName>).key(k[n] as never)]);
}

/** A gate rule's selector fields of its record: the bit set and each selector's values. */
export function selectorRecord(s: SelectorSpec, nodeOf: (path: string) => bigint): Partial<RuleValue> & { selectors: number } {
  return Object.assign({ selectors: present(s).reduce((m, { name }) => m | (1 << Selector[name]), 0) }, ...present(s).map(({ value, enc }) => enc.record(value, nodeOf)));
}

const recorded = (r: RuleValue) => SELECTOR_NAMES.filter((n) => (r.selectors & (1 << Selector[n])) !== 0);

/** The selectors a rule record holds, as the spec it was made from. */
export function specSelectorsOf(r: RuleValue): SelectorSpec {
  return Object.fromEntries(recorded(r).map((n) => [n, ENCODING[n].fromRecord(r)])) as SelectorSpec;
}

/** The selectors a rule record holds, in kernel terms: the path's node is the one the record keeps, not computed again. */
export function selectorsOf(r: RuleValue): Selectors {
  return kernelSelectors(specSelectorsOf(r), () => r.sel_node);
}

/** What the kernel knows of an actor, as selectors see it. */
export interface ActorIdentity {
  tgid: number;
  startTicks: bigint;
  euid: number;
  /** What the process really executed (recorded at exec). */
  exe: ExeKey;
  /** Cgroup ids from the root (level 0) down to the actor's own cgroup. */
  cgroupChain: bigint[];
}

/**
 * As gate_match() in BPF: the actor's cgroup chain is only consulted down to
 * MAX_LEVEL, each cgroup through the nodes it is bound to.
 */
export function selectorsMatch(s: Selectors, a: ActorIdentity, nodesOf: (cgroup: bigint) => bigint[]): boolean {
  if (s.pid && (s.pid.tgid !== a.tgid || s.pid.startTicks !== a.startTicks)) return false;
  if (s.exe && (s.exe.dev !== a.exe.dev || s.exe.ino !== a.exe.ino)) return false;
  if (s.uid !== undefined && s.uid !== a.euid) return false;
  if (s.cgroup !== undefined && !a.cgroupChain.slice(0, MAX_LEVEL + 1).some((c) => nodesOf(c).includes(s.cgroup!))) return false;
  return true;
}

/** A rule's selectors as the options that would give them again: `--exe /usr/bin/crun --uid 0`. */
export function formatSelectors(s: SelectorSpec): string {
  return writtenSelectors(s)
    .map(([n, v]) => `--${n} ${v}`)
    .join(" ");
}
