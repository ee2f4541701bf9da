import { statSync } from "node:fs";
import { join, resolve } from "node:path";
import { defineCommand } from "./_define.ts";
import { CliError, UsageError } from "../errors.ts";
import { note, print, printJson } from "../output.ts";
import { signatureProblem, trustedCertificate } from "../policy/file/signed.ts";
import type { SealKey } from "../kernel/keyring.ts";
import { describeSpec } from "../policy/describe.ts";
import { readPolicyDocument } from "./_policy-text.ts";
import { conflictInFile, nameOnSystem, specOfDocument } from "../policy/file/resolve.ts";
import { PolicyConflict, compile } from "../policy/compile.ts";
import { diffIsEmpty, diffSpecs, emptySpec, identity, numbered, sameSeal, type PolicySpec, type RuleSpec, type SpecDiff } from "../policy/spec.ts";
import { PolicyStore, specOfRecord, type Provenance } from "../pins/store.ts";
import { applySeal, cliIdentity, sealSpecOf, type CliIdentity } from "../pins/seal.ts";
import { withPolicyReader, withPolicyWriter } from "../pins/session.ts";
import type { PinnedState } from "../pins/state.ts";
import { jsonArg, pinArgs, pinContext } from "./_shared.ts";
import { replayRecords } from "../audit/records.ts";
import { summaryLine, whatIf, type WhatIfReport } from "../policy/what-if.ts";
import { provenance } from "./_provenance.ts";

export default defineCommand({
  meta: {
    name: "apply",
    description: "Make the policy in force exactly what policy files say, in one atomic change (rules not in them are removed)",
  },
  args: {
    file: {
      type: "positional",
      required: true,
      variadic: true,
      description: "Policy files (TOML or JSON), merged in the order given; a directory is its policy.toml then its policy.d/*.toml in name order; - reads standard input",
      valueHint: "FILE|DIR...",
    },
    "dry-run": { type: "boolean", description: "Print what would change and change nothing" },
    root: {
      type: "string",
      description: "Where the system the files are for is mounted: their symlinks, exe paths and users are read there (the initramfs applies the real root's policy)",
      valueHint: "DIR",
    },
    "signed-by": {
      type: "string",
      description:
        "Apply only files that each carry a signature by this certificate's key in FILE.sig (openssl dgst -sha256 -sign KEY -out FILE.sig FILE); a key seal in them is this certificate. What the initramfs of a key-sealed machine runs",
      valueHint: "CERT",
    },
    fallback: {
      type: "string",
      description: "With --signed-by: when the files are not all signed, say so and apply this directory's signed policy instead (the copy the initramfs carries)",
      valueHint: "DIR",
    },
    ...jsonArg,
    ...pinArgs,
  },
  async run({ args }) {
    const { pinDir } = pinContext(args);
    const root = resolve(args.root ?? "/");
    if (args.root !== undefined && !statSync(root, { throwIfNoEntry: false })?.isDirectory())
      throw new UsageError({ problem: `--root ${args.root} is not a directory`, fix: `give where the system the policy is for is mounted` });
    if (args.fallback !== undefined && args["signed-by"] === undefined) throw new UsageError("--fallback is the signed policy to apply instead; it needs --signed-by");
    const trusted = args["signed-by"] === undefined ? undefined : trustedCertificate(args["signed-by"]);
    const { doc, texts } = await readSigned(args._, root, trusted, args.fallback);
    const name = doc.source;
    // What was applied as that system names it: /root/etc/cgwarden in the initramfs is /etc/cgwarden.
    const named = (f: string) => nameOnSystem(f, root);
    // One file: its name and its text's digest (sha256sum agrees). Several: what was given, and a digest of each name and text in order.
    const origin =
      texts.length === 1
        ? provenance("apply", { name: named(texts[0]!.name), text: texts[0]!.text })
        : provenance("apply", { name: `${args._.map(named).join(" ")} (${texts.length} files)`, text: texts.map((t) => `${named(t.name)}\0${t.text}\0`).join("") });
    const desired = specOfDocument(doc, root, trusted);
    const dryRun = !!args["dry-run"];
    // A dry run never loads cgwarden: with nothing loaded, the policy in force is the empty one.
    let outcome: Outcome;
    try {
      const preview = withPolicyReader(pinDir, (state) => ({ ...changeOf(state, desired, true), sealed: state.seal().sealed, ...(dryRun ? { whatIf: whatIfRecorded(state, desired) } : {}) }));
      // Re-applying what is in force writes nothing, so on a sealed policy it succeeds for anyone.
      if (dryRun || (preview?.sealed && !preview.changed)) outcome = preview ?? changeOfEmpty(desired);
      else {
        const cli = cliUnder(root, desired); // refused before anything is written
        outcome = await withPolicyWriter(pinDir, async (state) => {
          const o = changeOf(state, desired, false, origin);
          const seal = await applySeal(state, desired.seal ?? null, cli);
          return { ...o, changed: o.changed || seal.changed, sealChanged: seal.changed };
        });
      }
    } catch (e) {
      // A rule the maps cannot hold is a problem in the file: name its line.
      if (e instanceof PolicyConflict) throw conflictInFile(doc, desired, e);
      throw e;
    }
    report(outcome, name, dryRun, !!args.json);
  },
});

/**
 * The policy files, or with --signed-by only files the trusted key signed:
 * when those given are not, the fallback's (named loudly on stderr), and
 * when there is no signed policy at all, an error that changes nothing.
 */
async function readSigned(files: readonly string[], root: string, cert: SealKey | undefined, fallback: string | undefined) {
  if (cert === undefined) return readPolicyDocument(files, root);
  let given: Awaited<ReturnType<typeof readPolicyDocument>> | null = null;
  let problem: string | null;
  try {
    given = await readPolicyDocument(files, root);
    problem = signatureProblem(given.texts, cert);
  } catch (e) {
    // Files root deleted or broke are no more signed than files root edited: the fallback is for both.
    if (fallback === undefined || !(e instanceof CliError)) throw e;
    problem = e.message;
  }
  if (given && !problem) return given;
  const source = given?.doc.source ?? files.join(" ");
  const fix = `sign each policy file where the seal's key is (openssl dgst -sha256 -sign KEY -out FILE.sig FILE); nothing was changed`;
  if (fallback === undefined) throw new CliError({ problem: `refusing ${source}: ${problem}`, fix });
  // The fallback is the initramfs's own copy, read as it is (not under --root).
  const instead = await readPolicyDocument([fallback]);
  const also = signatureProblem(instead.texts, cert);
  if (also) throw new CliError({ problem: `refusing ${source}: ${problem}; the fallback ${fallback} is no better: ${also}`, fix });
  note(`cgwarden: NOT applying ${source}: ${problem}; applying the last signed policy instead (${fallback})`);
  return instead;
}

interface Outcome {
  changed: boolean;
  /** A dry run's replay of the flight recorder against the file, when it holds records (see what-if). */
  whatIf?: WhatIfReport | null;
  /** The seal in force differs from the file's [seal] (or its absence). */
  sealChanged: boolean;
  diff: SpecDiff;
  /** Ids of the rules in force after the change, by identity. */
  ids: Map<string, number>;
  settings: { mode: string; record: string };
}

/** The rules' change; the seal's only as a comparison (applySeal makes it). */
function changeOf(state: PinnedState, desired: PolicySpec, dryRun: boolean, origin?: Provenance): Outcome {
  const r = new PolicyStore(state).replace(desired, dryRun, origin);
  const ids = new Map(r.records.map((rec) => [identity(specOfRecord(rec)), rec.id]));
  const sealChanged = !sameSeal(sealSpecOf(state.seal()), desired.seal ?? null);
  return { changed: r.changed || sealChanged, sealChanged, diff: r.diff, ids, settings: { mode: desired.globalMode, record: desired.recordAll ? "all" : "denials" } };
}

/** The recorded decisions decided again under `desired`; null when nothing was recorded. */
function whatIfRecorded(state: PinnedState, desired: PolicySpec): WhatIfReport | null {
  const records = replayRecords(state);
  return records.length ? whatIf(numbered(desired.rules), desired.globalMode, records) : null;
}

function changeOfEmpty(desired: PolicySpec): Outcome {
  compile(numbered(desired.rules), 0); // what the maps cannot hold is refused in a dry run too
  const diff = diffSpecs({ settings: emptySpec(), rules: [] }, desired);
  const sealChanged = !!desired.seal;
  return { changed: !diffIsEmpty(diff) || sealChanged, sealChanged, diff, ids: new Map(), settings: { mode: desired.globalMode, record: desired.recordAll ? "all" : "denials" } };
}

/**
 * The cgwarden binary a manager's child will run: from the initramfs, the
 * real root's copy at the same path (the initramfs's own is gone after
 * switch_root), else this one. Taken before any write: a binary the seal
 * cannot identify refuses the whole apply.
 */
function cliUnder(root: string, desired: PolicySpec): CliIdentity {
  const there = root === "/" ? null : statSync(join(root, process.execPath), { throwIfNoEntry: false });
  return cliIdentity(desired.seal ?? null, there?.isFile() ? join(root, process.execPath) : undefined);
}


function report(o: Outcome, name: string, dryRun: boolean, json: boolean): void {
  const entry = (r: RuleSpec, id?: number) => ({ ...(id ? { id } : {}), kind: r.kind, path: r.path, rule: describeSpec(r) });
  const added = o.diff.added.map((r) => entry(r, o.ids.get(identity(r))));
  const removed = o.diff.removed.map((r) => entry(r.spec, r.id));
  const updated = o.diff.updated.map((r) => entry(r.spec, r.id));
  const replay = o.whatIf ? { replayed: o.whatIf.replayed, changed: o.whatIf.changed, newlyDenied: o.whatIf.newlyDenied, summary: summaryLine(o.whatIf) } : null;
  if (json)
    return printJson({ changed: o.changed, dryRun, added, removed, updated, unchanged: o.diff.unchanged.length, settingsChanged: o.diff.settingsChanged, settings: o.settings, sealChanged: o.sealChanged, ...(dryRun ? { whatIf: replay } : {}) });
  const verb = dryRun ? "would change" : "changed";
  const replayLine = () => replay && print(`what-if against the flight recorder: ${replay.summary}${replay.newlyDenied ? ` (the list: cgwarden what-if ${name})` : ""}`);
  if (!o.changed) {
    print(`apply ${name}: the policy in force already matches; nothing ${dryRun ? "would change" : "changed"}`);
    return void replayLine();
  }
  const counts = `${added.length} added, ${removed.length} removed, ${updated.length} updated, ${o.diff.unchanged.length} unchanged${o.diff.settingsChanged ? `, settings now mode ${o.settings.mode}, recording ${o.settings.record}` : ""}${o.sealChanged ? ", and the seal as [seal] says" : ""}`;
  print(`apply ${name}: ${verb}: ${counts}`);
  for (const a of added) print(`  + ${a.id ? `${a.id} ` : ""}${a.rule}`);
  for (const r of removed) print(`  - ${r.id} ${r.rule}`);
  for (const u of updated) print(`  ~ ${u.id} ${u.rule}`);
  replayLine();
}

export const examples = [
  "cgwarden apply /etc/cgwarden                  # policy.toml, then policy.d/*.toml in name order",
  "cgwarden apply /etc/cgwarden/policy.toml",
  "cgwarden apply --dry-run policy.toml          # show the difference, change nothing",
  "cgwarden export | cgwarden apply -            # a no-op: export is what is in force",
  "cgwarden apply policy.json --json | jq .changed   # for Ansible, Salt, cloud-init",
  "cgwarden apply --root /root /root/etc/cgwarden   # from an initramfs, the real root mounted at /root",
];
