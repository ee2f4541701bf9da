// Shared by the commands that change policy: the path argument, one change
// of the spec, and reporting it.
import type { ArgsDef } from "citty";
import { defineCommand } from "./_define.ts";
import { print, printJson } from "../output.ts";
import { viewRule, formatRuleLine, type RuleView } from "../policy/describe.ts";
import { PolicyStore, specOfRecord, type ReplaceResult } from "../pins/store.ts";
import { rulePath } from "../policy/lookup.ts";
import { parseSelectors, selectorArgs } from "../policy/selectors.ts";
import { identity, type PolicySpec, type RuleSpec } from "../policy/spec.ts";
import { withLoadedPolicyWriter, withPolicyWriter } from "../pins/session.ts";
import type { PinnedState } from "../pins/state.ts";
import { parsePid, parseUid } from "../policy/numbers.ts";
import { jsonArg, pinArgs, pinContext } from "./_shared.ts";
import { provenance } from "./_provenance.ts";

export const cgroupArg = {
  path: {
    type: "positional",
    required: true,
    description: "Cgroup path (/system.slice/foo.service, need not exist yet), template (/system.slice/*.service), or path under the cgroup2 mount",
    valueHint: "CGROUP",
  },
} as const satisfies ArgsDef;

export { rulePath };

export type ChangeAction = "created" | "updated" | "unchanged" | "removed";

export interface SpecChange {
  result: ReplaceResult;
  /** The view of the rule the command is about, after the change (before it, when removed). */
  view: RuleView | null;
  action: ChangeAction;
}

/**
 * One command's change: `edit` returns the whole desired spec, the store puts
 * it in force atomically. `about` names the rule the command reports on.
 */
export async function changeSpec(
  pinDir: string,
  edit: (spec: PolicySpec) => PolicySpec,
  about: RuleSpec | null,
  opts: { loadIfNeeded: boolean; by: string },
): Promise<SpecChange | null> {
  const run = (state: PinnedState): SpecChange => {
    const store = new PolicyStore(state);
    const before = store.records();
    const result = store.replace(edit(store.spec()), false, provenance(opts.by));
    const key = about ? identity(about) : null;
    const is = (spec: RuleSpec) => identity(spec) === key;
    const action: ChangeAction = result.diff.added.some(is)
      ? "created"
      : result.diff.updated.some((r) => is(r.spec))
        ? "updated"
        : result.diff.removed.some((r) => is(r.spec))
          ? "removed"
          : "unchanged";
    // The rule as it is now; a removed one as it was.
    const rec = [...result.records, ...before].find((r) => is(specOfRecord(r)));
    const view = rec ? viewRule(rec, store.bindStates([rec]).get(rec.id)!) : null;
    return { result, view, action };
  };
  return opts.loadIfNeeded ? withPolicyWriter(pinDir, run) : withLoadedPolicyWriter(pinDir, run);
}

export function reportChange(c: SpecChange, json: boolean | undefined, verb: string): void {
  const changed = c.action !== "unchanged";
  if (json) return printJson({ changed, action: c.action, rule: c.view });
  const what = !changed ? `${verb}: already in place, nothing changed` : `${verb}: ${c.action}`;
  print(c.view ? [what, formatRuleLine(c.view), ...c.view.warnings.map((w) => `        ! ${w}`)].join("\n") : what);
}

/** allow and delegate differ only in the gate they add a rule to. */
export function gateRuleCommand(kind: "allow" | "delegate", description: string) {
  return defineCommand({
    meta: { name: kind, description },
    args: { ...cgroupArg, ...selectorArgs, ...jsonArg, ...pinArgs },
    async run({ args }) {
      const { pinDir } = pinContext(args);
      // Numbers first, strictly: a uid of "007" or "1e3" is a typo, not uid 7 or 1000.
      if (typeof args.uid === "string") parseUid(args.uid);
      if (typeof args.pid === "string") parsePid(args.pid, "--pid");
      const path = rulePath(args.path);
      const rule: RuleSpec = { kind, path, selectors: parseSelectors(args) };
      const key = identity(rule);
      const c = await changeSpec(pinDir, (spec) => ({ ...spec, rules: [...spec.rules.filter((r) => identity(r) !== key), rule] }), rule, { loadIfNeeded: true, by: kind });
      reportChange(c!, args.json, `${kind} ${path}`);
    },
  });
}
