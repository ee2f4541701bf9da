// Several policy files as one policy: /etc/cgwarden/policy.toml and the
// drop-ins of /etc/cgwarden/policy.d/, in the order the reader gives them
// (commands/_policy-text.ts). A drop-in adds to the policy; it never
// overrides. Where two files disagree nothing is guessed: the merge is
// refused with both places named, so a fleet's files cannot silently fight.
//
// - a setting ([settings] mode, record) may be given in several files only with one value;
// - a path has one lock: the same lock stated twice is one lock, a different one is refused;
// - the same allow or delegate stated in two files is one rule;
// - one [seal], in one file;
// - templates that overlap across files are refused when the policy is
//   compiled (compile.ts), like those of one file, naming both.
import { shown } from "../../errors.ts";
import { POLICY_SCHEMA } from "./schema.ts";
import { PolicyFileError, locateEntry, type GateEntry, type LockEntry, type PolicyDocument, type PolicyProblem, type SettingName } from "./parse.ts";

/** `name`: what the merged policy is called in messages and provenance (the directory, or the files, applied). */
export function mergeDocuments(docs: readonly PolicyDocument[], name: string): PolicyDocument {
  if (docs.length === 1) return docs[0]!;
  const problems: PolicyProblem[] = [];
  const refuse = (source: string, line: number, field: string, message: string, fix: string) => problems.push({ file: source, line, field, message, fix });
  const at = (p: { source: string; line: number }) => `${shown(p.source, 200)}:${p.line}`;

  const merged: PolicyDocument = { settings: { ...docs[0]!.settings }, settingsGiven: {}, locks: [], allows: [], delegates: [], seal: null, source: name };
  for (const doc of docs) {
    for (const key of Object.keys(doc.settingsGiven) as SettingName[]) {
      const given = doc.settingsGiven[key]!;
      const first = merged.settingsGiven[key];
      if (!first) {
        merged.settingsGiven[key] = given;
        (merged.settings as Record<SettingName, string>)[key] = doc.settings[key];
      } else if (merged.settings[key] !== doc.settings[key])
        refuse(given.source, given.line, `settings.${key}`, `is "${doc.settings[key]}" here and "${merged.settings[key]}" in ${at(first)}`, "give the setting in one file (policy.toml), or the same value in both");
    }

    for (const lock of doc.locks) {
      const first = merged.locks.find((l) => l.path === lock.path);
      if (!first) merged.locks.push(lock);
      else if (!sameLock(first, lock))
        refuse(
          lock.source,
          lock.fieldLines.path ?? lock.line,
          `lock[${lock.index}].path`,
          `"${shown(lock.path)}" is locked differently in ${locateEntry("lock", first)} (there: ${lockTerms(first)}; here: ${lockTerms(lock)})`,
          "a path has one lock: make the two agree, or keep it in one file",
        );
    }

    for (const [kind, list] of [["allow", doc.allows], ["delegate", doc.delegates]] as const) {
      const into = kind === "allow" ? merged.allows : merged.delegates;
      // The same rule in two files is one rule (a fleet's roles may each need it); within one file, parse.ts refuses it.
      for (const gate of list) if (!into.some((g) => sameGate(g, gate))) into.push(gate);
    }

    if (doc.seal) {
      if (!merged.seal) merged.seal = doc.seal;
      else refuse(doc.seal.source, doc.seal.line, "seal", `a second [seal]; the first is in ${at(merged.seal)}`, "a policy has one seal: keep it in one file (policy.toml)");
    }
  }
  if (problems.length) throw new PolicyFileError(problems);
  return merged;
}

const sameLock = (a: LockEntry, b: LockEntry) => a.mode === b.mode && a.directions.join() === b.directions.join();
const lockTerms = (l: LockEntry) => `directions ${l.directions.join(", ")} and mode ${l.mode}`;

/** The rule as written: the same path and selectors, by the schema's keys (a user name and its uid are told apart here and merged once resolved). */
const GATE_KEYS = Object.keys(POLICY_SCHEMA.$defs.gate.properties) as (keyof GateEntry)[];
const sameGate = (a: GateEntry, b: GateEntry) => GATE_KEYS.every((k) => a[k] === b[k]);
