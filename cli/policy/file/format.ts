// Canonical policy files. Exporting the same policy twice must give the same
// bytes, so that a diff of two exports shows policy changes and nothing else:
// fixed section order, entries sorted, keys in schema order, every default
// written out, no timestamp.
import type { DirectionName, GateEntry, Located, LockEntry, PolicyDocument, SealEntry } from "./parse.ts";
import { POLICY_SCHEMA } from "./schema.ts";

/** `comment`: one line written above the entry in TOML (export --sources says where the rule came from). */
export type LockEntryLike = Omit<LockEntry, keyof Located> & { comment?: string };
export type GateEntryLike = Omit<GateEntry, keyof Located> & { comment?: string };
export type SealEntryLike = Omit<SealEntry, keyof Located>;
export interface PolicyDocumentLike {
  settings: PolicyDocument["settings"];
  locks: readonly LockEntryLike[];
  allows: readonly GateEntryLike[];
  delegates: readonly GateEntryLike[];
  seal: SealEntryLike | null;
}

type Scalar = string | number | boolean;
type FileValue = Scalar | Scalar[];
type FileEntry = Record<string, FileValue>;
/** The document in the file's own shape: top-level keys as the schema names them. */
interface FileShape { settings: FileEntry; lock: FileEntry[]; allow: FileEntry[]; delegate: FileEntry[]; seal?: FileEntry }

const { lock: LOCK, gate: GATE } = POLICY_SCHEMA.$defs;
const DIRECTION_ORDER: readonly DirectionName[] = LOCK.properties.directions.items.enum;

export function formatJson(doc: PolicyDocumentLike): string {
  return `${JSON.stringify(fileShape(doc), null, 2)}\n`;
}

export function formatToml(doc: PolicyDocumentLike): string {
  const shape = fileShape(doc);
  const out = ["# cgwarden policy, exported (canonical: same policy, same bytes)", "", "[settings]", ...pairs(shape.settings)];
  for (const kind of ["lock", "allow", "delegate"] as const)
    for (const entry of shape[kind]) {
      const comment = comments.get(entry);
      out.push("", ...(comment !== undefined ? [`# ${comment.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, "?")}`] : []), `[[${kind}]]`, ...pairs(entry));
    }
  if (shape.seal) out.push("", "[seal]", ...pairs(shape.seal));
  return `${out.join("\n")}\n`;
}

/** Entries' comments, beside the entries: only what the schema names goes into an entry. */
const comments = new WeakMap<FileEntry, string>();
const commented = (entry: FileEntry, comment: string | undefined) => {
  if (comment !== undefined) comments.set(entry, comment);
  return entry;
};

function fileShape(doc: PolicyDocumentLike): FileShape {
  const settings = pick(doc.settings, Object.keys(POLICY_SCHEMA.properties.settings.properties));
  const locks = doc.locks.map((l) => commented(pick({ ...l, directions: DIRECTION_ORDER.filter((d) => l.directions.includes(d)) }, Object.keys(LOCK.properties)), l.comment));
  const gates = (list: readonly GateEntryLike[]) => list.map((g) => commented(pick(g, Object.keys(GATE.properties)), g.comment)).sort(compareEntries);
  const shape: FileShape = { settings, lock: locks.sort(compareEntries), allow: gates(doc.allows), delegate: gates(doc.delegates) };
  if (doc.seal) {
    // Managers as sets: sorted, and only the lists that have members.
    const s = { ...doc.seal, managers: [...doc.seal.managers].sort(), manager_pids: [...doc.seal.manager_pids].sort((a, b) => a - b) };
    shape.seal = pick({ ...s, managers: s.managers.length ? s.managers : undefined, manager_pids: s.manager_pids.length ? s.manager_pids : undefined }, Object.keys(POLICY_SCHEMA.properties.seal.properties));
  }
  return shape;
}

/** The given keys, in that order, leaving out absent ones (and anything else, such as line numbers). */
function pick(from: object, keys: readonly string[]): FileEntry {
  const entry: FileEntry = {};
  for (const k of keys) {
    const v = (from as Record<string, unknown>)[k];
    if (v !== undefined) entry[k] = v as FileValue;
  }
  return entry;
}

/** By path, then by each selector in schema order, absent first. Code-unit order: no locale may reorder. */
function compareEntries(a: FileEntry, b: FileEntry): number {
  for (const k of Object.keys(GATE.properties)) {
    const x = a[k];
    const y = b[k];
    if (x === y) continue;
    if (x === undefined) return -1;
    if (y === undefined) return 1;
    return x < y ? -1 : 1;
  }
  return 0;
}

function pairs(entry: FileEntry): string[] {
  return Object.entries(entry).map(([k, v]) => `${k} = ${Array.isArray(v) ? `[${v.map(tomlScalar).join(", ")}]` : tomlScalar(v)}`);
}

function tomlScalar(v: Scalar): string {
  return typeof v === "string" ? tomlString(v) : String(v);
}

/** A TOML basic string. TOML has no escape for half a surrogate pair, and a policy must not be altered on the way out. */
export function tomlString(s: string): string {
  if (/\p{Cs}/u.test(s)) throw new Error(`"${s}" holds half of a UTF-16 surrogate pair, which TOML cannot write`);
  const short: Record<string, string> = { "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r", '"': '\\"', "\\": "\\\\" };
  return `"${s.replace(/[\u0000-\u001f"\\\u007f]/g, (c) => short[c] ?? `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`)}"`;
}
