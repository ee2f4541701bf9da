// A policy file (TOML or JSON) read into a PolicyDocument, with nothing of
// the machine consulted: users, executables and cgroups are resolved later,
// by whoever applies the document, which reports through locate().
//
// Entries are named as in the file's JSON pointers, counting from 0:
// `allow[2]` is the third [[allow]], `/allow/2` in the pointer, `.allow[2]`
// in jq. Every message starts with the line, which is what a reader follows.
import { rulePathProblem } from "../paths.ts";
import { CliError, problemText, shown, type Problem } from "../../errors.ts";
import type { DirectionName, ModeName } from "../../object/abi.ts";
import { parseJson } from "./json-lines.ts";
import { POLICY_SCHEMA, PATH_MAX_BYTES, TEMPLATE_PART_MAX_BYTES } from "./schema.ts";
import { SourceSyntaxError, childPointer, type ParsedSource } from "./source.ts";
import { parseToml } from "./toml.ts";
import { compileSchema, type SchemaProblem } from "./validate.ts";

export type { DirectionName, ModeName };
export type RecordName = "denials" | "all";
export type PolicyFormat = "toml" | "json";
export type EntryKind = "lock" | "allow" | "delegate";

export interface Located {
  /** The file that states the entry: a merged policy (merge.ts) keeps each entry's own. */
  source: string;
  /** Its index among its file's entries of its kind: `allow[2]` names the file's third [[allow]]. */
  index: number;
  /** Line of the entry: its [[header]] in TOML, its '{' in JSON. */
  line: number;
  /** Line of each field the file gives (defaults have none). */
  fieldLines: Record<string, number>;
}
export interface LockEntry extends Located { path: string; directions: DirectionName[]; mode: ModeName }
export interface GateEntry extends Located { path: string; exe?: string; uid?: number; user?: string; cgroup?: string; pid?: number }
export interface SealEntry extends Located { managers: string[]; manager_pids: number[]; until_reboot: boolean; lock_bpf: boolean; key?: string }
export type SettingName = "mode" | "record";
export interface PolicyDocument {
  settings: { mode: ModeName; record: RecordName };
  /** Where each setting the text gives is stated (a default has no entry), so a merge can name both places. */
  settingsGiven: Partial<Record<SettingName, { source: string; line: number }>>;
  locks: LockEntry[];
  allows: GateEntry[];
  delegates: GateEntry[];
  /** null: the file has no [seal], so applying it leaves the policy unsealed. */
  seal: SealEntry | null;
  /** The file name as given; for a merged policy, what was applied (merge.ts). */
  source: string;
}

export interface PolicyProblem { file: string; line: number; field: string; message: string; fix: string }

export class PolicyFileError extends CliError {
  constructor(readonly problems: PolicyProblem[]) {
    super(asProblem(problems[0]!));
    this.name = "PolicyFileError";
  }
}

/** The problem located, `FILE:LINE: FIELD: problem`, and its fix apart. */
function asProblem(p: PolicyProblem): Problem {
  return { problem: `${shown(p.file, 200)}:${p.line}: ${p.field}: ${p.message}`, ...(p.fix ? { fix: p.fix } : {}) };
}

/** `FILE:LINE: FIELD: problem; fix`, one line whatever the input held. */
export function formatProblem(p: PolicyProblem): string {
  return problemText(asProblem(p));
}

export function formatProblems(problems: readonly PolicyProblem[]): string {
  return problems.map(formatProblem).join("\n");
}

const { lock: LOCK, gate: GATE } = POLICY_SCHEMA.$defs;
const SETTINGS = POLICY_SCHEMA.properties.settings.properties;
const SEAL = POLICY_SCHEMA.properties.seal.properties;
/** The schema's enum, checked against the ABI's names by the compiler. */
const DIRECTION_ORDER = LOCK.properties.directions.items.enum satisfies readonly DirectionName[];

/**
 * The "cgwarden-cgroup-path" format: the schema's patterns describe the path
 * syntax for editors and readers; the one judge of it, for files and the
 * command line alike, is rulePathProblem() in policy/paths.ts.
 */
function cgroupPathBytes(path: string): { message: string; fix: string } | undefined {
  const p = rulePathProblem(path);
  if (!p) return undefined;
  return { message: p.problem, fix: p.fix ?? "give a cgroup path such as /system.slice/foo.service or a template such as /system.slice/*.service" };
}

const validatePolicy = compileSchema(POLICY_SCHEMA, { "cgwarden-cgroup-path": cgroupPathBytes });

/** `.json` names JSON; otherwise (stdin's `-` included) a text starting with '{' is JSON, anything else TOML. */
export function guessFormat(text: string, fileName: string): PolicyFormat {
  if (/\.json$/i.test(fileName)) return "json";
  return /^\uFEFF?\s*\{/.test(text) ? "json" : "toml";
}

export function parsePolicyFile(text: string, fileName: string, format: PolicyFormat = guessFormat(text, fileName)): PolicyDocument {
  let parsed: ParsedSource;
  try {
    parsed = format === "json" ? parseJson(text) : parseToml(text);
  } catch (e) {
    if (!(e instanceof SourceSyntaxError)) throw e;
    const field = e.pointer === undefined ? `invalid ${format.toUpperCase()}` : fieldName(e.pointer, undefined);
    throw new PolicyFileError([{ file: fileName, line: e.line, field, message: e.message, fix: e.fix }]);
  }
  const { data, lines } = parsed;
  const found = [...validatePolicy(data), ...duplicates(data, lines)];
  if (found.length > 0) {
    const problems = found.map((p) => ({ file: fileName, line: lineOf(lines, p.pointer), field: fieldName(p.pointer, data), message: p.message, fix: p.fix }));
    throw new PolicyFileError(problems.sort((a, b) => a.line - b.line));
  }
  return toDocument(data as RawPolicy, lines, fileName);
}

/** `FILE:LINE: seal.managers`: the prefix for problems with the [seal] found when the document is applied. */
export function locateSeal(doc: PolicyDocument, field?: string): string {
  const line = (field !== undefined ? doc.seal?.fieldLines[field] : undefined) ?? doc.seal?.line ?? 1;
  return `${doc.seal?.source ?? doc.source}:${line}: seal${field !== undefined ? `.${field}` : ""}`;
}

/** `FILE:LINE: lock[1].path`: the prefix for problems found when the document is applied. */
export function locate(doc: PolicyDocument, kind: EntryKind, index: number, field?: string): string {
  const entries = { lock: doc.locks, allow: doc.allows, delegate: doc.delegates }[kind];
  const entry = entries[index];
  if (!entry) throw new RangeError(`${kind}[${index}] is not in ${doc.source}`);
  return locateEntry(kind, entry, field);
}

/** `FILE:LINE: lock[1].path` for one entry, in its own file's terms. */
export function locateEntry(kind: EntryKind | "seal", entry: Located, field?: string): string {
  const line = (field !== undefined ? entry.fieldLines[field] : undefined) ?? entry.line;
  return `${entry.source}:${line}: ${kind === "seal" ? "seal" : `${kind}[${entry.index}]`}${field !== undefined ? `.${field}` : ""}`;
}

// ---- after validation ------------------------------------------------------------

type RawEntry = Record<string, unknown>;
interface RawPolicy { settings?: { mode?: ModeName; record?: RecordName }; lock?: RawEntry[]; allow?: RawEntry[]; delegate?: RawEntry[]; seal?: RawEntry }

function toDocument(raw: RawPolicy, lines: ReadonlyMap<string, number>, source: string): PolicyDocument {
  const located = (kind: EntryKind, i: number, e: RawEntry): Located => {
    const ptr = `/${kind}/${i}`;
    const fieldLines = Object.fromEntries(Object.keys(e).map((k) => [k, lineOf(lines, childPointer(ptr, k))]));
    return { source, index: i, line: lineOf(lines, ptr), fieldLines };
  };
  const gates = (kind: "allow" | "delegate") =>
    (raw[kind] ?? []).map((e, i) => ({ ...located(kind, i, e), ...(e as Omit<GateEntry, keyof Located>) }));
  return {
    settings: { mode: raw.settings?.mode ?? SETTINGS.mode.default, record: raw.settings?.record ?? SETTINGS.record.default },
    settingsGiven: Object.fromEntries(
      (Object.keys(SETTINGS) as SettingName[]).filter((k) => raw.settings?.[k] !== undefined).map((k) => [k, { source, line: lineOf(lines, `/settings/${k}`) }]),
    ),
    locks: (raw.lock ?? []).map((e, i) => {
      const given = (e.directions as DirectionName[] | undefined) ?? LOCK.properties.directions.default;
      return {
        ...located("lock", i, e),
        path: e.path as string,
        // A set, kept in one order so that equal locks compare equal.
        directions: DIRECTION_ORDER.filter((d) => given.includes(d)),
        mode: (e.mode as ModeName | undefined) ?? LOCK.properties.mode.default,
      };
    }),
    allows: gates("allow"),
    delegates: gates("delegate"),
    seal: raw.seal
      ? {
          source,
          index: 0,
          line: lineOf(lines, "/seal"),
          fieldLines: Object.fromEntries(Object.keys(raw.seal).map((k) => [k, lineOf(lines, childPointer("/seal", k))])),
          managers: (raw.seal.managers as string[] | undefined) ?? [],
          manager_pids: (raw.seal.manager_pids as number[] | undefined) ?? [],
          until_reboot: (raw.seal.until_reboot as boolean | undefined) ?? SEAL.until_reboot.default,
          lock_bpf: (raw.seal.lock_bpf as boolean | undefined) ?? SEAL.lock_bpf.default,
          ...(raw.seal.key !== undefined ? { key: raw.seal.key as string } : {}),
        }
      : null,
    source,
  };
}

/** A path has at most one lock; a rule given twice is a mistake. Tolerates entries the schema refused. */
function duplicates(data: unknown, lines: ReadonlyMap<string, number>): SchemaProblem[] {
  const found: SchemaProblem[] = [];
  const entries = (kind: EntryKind) => {
    const list = (data as Record<string, unknown> | null)?.[kind];
    return Array.isArray(list) ? list.map((e, i) => [e as Record<string, unknown> | null, i] as const).filter(([e]) => typeof e?.path === "string") : [];
  };
  const firstOf = new Map<string, string>();
  const seen = (key: string, ptr: string) => {
    const first = firstOf.get(key);
    if (first === undefined) firstOf.set(key, ptr);
    return first;
  };
  for (const [e, i] of entries("lock")) {
    const first = seen(`lock ${e!.path}`, `/lock/${i}`);
    if (first !== undefined)
      found.push({ pointer: `/lock/${i}/path`, message: `"${shown(String(e!.path))}" already has a lock: ${fieldName(first, data)} (line ${lineOf(lines, first)})`, fix: "merge the two into one [[lock]]; a path has at most one lock" });
  }
  for (const kind of ["allow", "delegate"] as const)
    for (const [e, i] of entries(kind)) {
      const key = JSON.stringify([kind, ...Object.keys(GATE.properties).map((k) => e![k] ?? null)]);
      const first = seen(key, `/${kind}/${i}`);
      if (first !== undefined)
        found.push({ pointer: `/${kind}/${i}`, message: `the same rule as ${fieldName(first, data)} (line ${lineOf(lines, first)})`, fix: "remove one of them" });
    }
  return found;
}

// ---- pointers as people read them ----------------------------------------------

/** The line of the value at `pointer`, or of the nearest enclosing value the file has (a missing key: its table). */
function lineOf(lines: ReadonlyMap<string, number>, pointer: string): number {
  for (let p = pointer; ; p = p.slice(0, p.lastIndexOf("/"))) {
    const line = lines.get(p);
    if (line !== undefined) return line;
    if (p === "") return 1;
  }
}

/** `/allow/2/exe` -> `allow[2].exe`. Without data, numeric parts are taken as list indexes. */
export function fieldName(pointer: string, data: unknown): string {
  if (pointer === "") return "(top level)";
  let node = data;
  let name = "";
  for (const raw of pointer.slice(1).split("/")) {
    const part = raw.replaceAll("~1", "/").replaceAll("~0", "~");
    const index = Array.isArray(node) || (node === undefined && /^(0|[1-9][0-9]*)$/.test(part));
    name += index ? `[${part}]` : /^[A-Za-z0-9_-]+$/.test(part) ? `${name ? "." : ""}${part}` : `${name ? "." : ""}"${shown(part, 40)}"`;
    node = typeof node === "object" && node !== null ? (node as Record<string, unknown>)[part] : undefined;
  }
  return name;
}
