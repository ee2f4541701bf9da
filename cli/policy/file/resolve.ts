// A parsed policy file as the spec the store puts in force, and the spec in
// force as a document `export` writes. Resolving needs the machine (which
// inode an --exe path is now, which uid a user name has, a pid's start
// time); every failure names the file, line and field, like a syntax error.
import { join, resolve } from "node:path";
import { MANAGERS, directionBits, directionNames } from "../../object/abi.ts";
import { CliError } from "../../errors.ts";
import { parseManagers } from "../lookup.ts";
import { resolveFileSelectors, writtenSelectors } from "../selectors.ts";
import { identity, type ManagerSpec, type PolicySpec, type RuleSource, type RuleSpec, type SealKeySpec, type SealSpec } from "../spec.ts";
import { readCertificateFile, type SealKey } from "../../kernel/keyring.ts";
import type { PolicyConflict } from "../compile.ts";
import type { PolicyDocumentLike } from "./format.ts";
import { locate, locateSeal, type EntryKind, type GateEntry, type Located, type PolicyDocument } from "./parse.ts";

/** How a file's problems name managers, after the location that names the field. */
const FILE_MANAGERS = { exe: "manager", pid: "manager process" };

/**
 * `root`: where the system the policy is for is mounted; see resolveExe().
 * Each rule records its file and line as that system names them
 * (/root/etc/cgwarden/policy.toml in the initramfs is /etc/cgwarden/policy.toml).
 * `trustedKey`: the certificate a key seal in the file is, whatever the file
 * at its `key` path holds (apply --signed-by).
 */
export function specOfDocument(doc: PolicyDocument, root = "/", trustedKey?: SealKey): PolicySpec {
  const sourceOf = (e: Located): RuleSource | undefined => (e.source === "-" ? undefined : { file: nameOnSystem(e.source, root), line: e.line });
  const problems: string[] = [];
  const attempt = <T>(kind: EntryKind, i: number, field: string, fn: () => T): T | undefined => {
    try {
      return fn();
    } catch (e) {
      problems.push(`${locate(doc, kind, i, field)}: ${(e as Error).message}`);
      return undefined;
    }
  };
  const rules: RuleSpec[] = doc.locks.map((l) => ({ kind: "lock", path: l.path, directions: directionBits(l.directions), mode: l.mode, ...withSource(sourceOf(l)) }));
  const gates = (kind: "allow" | "delegate", entries: GateEntry[]) =>
    entries.forEach((e, i) => {
      const selectors = resolveFileSelectors(e, root, (key, fn) => attempt(kind, i, key, fn));
      rules.push({ kind, path: e.path, selectors, ...withSource(sourceOf(e)) });
    });
  gates("allow", doc.allows);
  gates("delegate", doc.delegates);
  let seal: SealSpec | null = null;
  if (doc.seal) {
    const at = (field: string, fn: () => ManagerSpec[]) => {
      try {
        return fn();
      } catch (e) {
        problems.push(`${locateSeal(doc, field)}: ${(e as Error).message}`);
        return [];
      }
    };
    const keyPath = doc.seal.key;
    let key: SealKeySpec | undefined;
    if (keyPath !== undefined) {
      try {
        // A boot that trusts a certificate (apply --signed-by) seals with that one: the file the policy names is root's to replace.
        key = { path: keyPath, ...(trustedKey ?? readCertificateFile(keyPath, root === "/" ? keyPath : join(root, keyPath))) };
      } catch (e) {
        problems.push(`${locateSeal(doc, "key")}: ${(e as Error).message}`);
      }
    }
    seal = {
      managers: [...at("managers", () => parseManagers(doc.seal!.managers, [], root, FILE_MANAGERS)), ...at("manager_pids", () => parseManagers([], doc.seal!.manager_pids, root, FILE_MANAGERS))],
      untilReboot: doc.seal.until_reboot,
      lockBpf: doc.seal.lock_bpf,
      ...(key ? { key } : {}),
    };
    const named = doc.seal.managers.length + doc.seal.manager_pids.length;
    if (keyPath !== undefined && (named || doc.seal.until_reboot))
      problems.push(`${locateSeal(doc, "key")}: a key seal has no managers and does not last until reboot; remove managers, manager_pids and until_reboot, or the key`);
    else if (keyPath !== undefined) {
      // a key seal: nothing more to check
    } else if (doc.seal.until_reboot && named) problems.push(`${locateSeal(doc, "until_reboot")}: a seal until reboot has no managers; remove managers and manager_pids, or set until_reboot = false`);
    else if (!doc.seal.until_reboot && !named) problems.push(`${locateSeal(doc)}: a seal needs managers (managers, manager_pids) or until_reboot = true`);
    else if (named > MANAGERS) problems.push(`${locateSeal(doc)}: a seal has at most ${MANAGERS} managers, not ${named}; name fewer`);
  }
  if (problems.length) throw new CliError(problems[0]!);
  return { globalMode: doc.settings.mode, recordAll: doc.settings.record === "all", rules, seal };
}

/**
 * A policy file's name as the system mounted at `root` names it, absolute:
 * /root/etc/cgwarden/policy.toml in the initramfs is /etc/cgwarden/policy.toml.
 * Standard input (-) stays -.
 */
export function nameOnSystem(file: string, root = "/"): string {
  if (file === "-") return file;
  const full = resolve(file);
  return root !== "/" && full.startsWith(`${root}/`) ? full.slice(root.length) : full;
}

/** A rule the maps cannot hold, named by its line; two rules that clash (overlapping templates), by both. */
export function conflictInFile(doc: PolicyDocument, spec: PolicySpec, e: PolicyConflict): CliError {
  const other = e.other ? ` (the other: ${locateRule(doc, spec, e.other)})` : "";
  return new CliError(`${locateRule(doc, spec, e.rule)}: ${e.message}${other}`);
}

const withSource = (source: RuleSource | undefined) => (source ? { source } : {});

/** `FILE:LINE: allow[3]` for a rule of the spec made from `doc` (specs keep the file's order per kind). */
export function locateRule(doc: PolicyDocument, spec: PolicySpec, rule: RuleSpec): string {
  const key = identity(rule);
  const at = spec.rules.findIndex((r) => identity(r) === key);
  const kinds = spec.rules.slice(0, at).filter((r) => r.kind === rule.kind).length;
  return at < 0 ? doc.source : locate(doc, rule.kind, kinds);
}

/**
 * The spec as a file would state it: exe by path, uid by number, pid by
 * number. With `sources`, each entry carries a comment naming the file and
 * line it was applied from, or that a command made it.
 */
export function documentOfSpec(spec: PolicySpec, sources = false): PolicyDocumentLike {
  const comment = (r: RuleSpec) => (!sources ? {} : { comment: r.source ? `from ${r.source.file}:${r.source.line}` : "from a command (cgwarden lock, allow or delegate), not a policy file" });
  const seal = spec.seal
    ? {
        managers: spec.seal.managers.filter((m) => !m.pid).map((m) => m.exe.path),
        manager_pids: spec.seal.managers.filter((m) => m.pid).map((m) => m.pid!.tgid),
        until_reboot: spec.seal.untilReboot,
        lock_bpf: spec.seal.lockBpf,
        ...(spec.seal.key ? { key: spec.seal.key.path } : {}),
      }
    : null;
  const doc = { settings: { mode: spec.globalMode, record: spec.recordAll ? ("all" as const) : ("denials" as const) }, locks: [] as PolicyDocumentLike["locks"][number][], allows: [] as GateLike[], delegates: [] as GateLike[], seal };
  for (const r of spec.rules) {
    if (r.kind === "lock") {
      doc.locks.push({ path: r.path, directions: directionNames(r.directions), mode: r.mode, ...comment(r) });
      continue;
    }
    const entry: GateLike = { path: r.path, ...Object.fromEntries(writtenSelectors(r.selectors)), ...comment(r) };
    (r.kind === "allow" ? doc.allows : doc.delegates).push(entry);
  }
  return doc;
}

type GateLike = PolicyDocumentLike["allows"][number] & { exe?: string; uid?: number; cgroup?: string; pid?: number };
