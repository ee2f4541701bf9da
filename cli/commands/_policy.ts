// Shared by the commands that change policy: the cgroup argument and reporting a change.
import { defineCommand, type ArgsDef } from "citty";
import { requireRuleDepth, resolveCgroup, CgroupNames } from "../kernel/cgroupfs.ts";
import { print, printJson } from "../output.ts";
import { viewRule, formatRuleLine } from "../policy/describe.ts";
import { PolicyStore, type Anchor, type ChangeResult } from "../policy/store.ts";
import { parseSelectors, selectorArgs } from "../policy/selector-args.ts";
import { withPolicyWriter } from "../pins/session.ts";
import { parsePid, parseUid } from "./_numbers.ts";
import { jsonArg, pinArgs, pinContext, strictArgs } from "./_shared.ts";

export const cgroupArg = {
  path: {
    type: "positional",
    required: true,
    description: "Cgroup path (/system.slice/foo.service) or path under the cgroup2 mount",
    valueHint: "CGROUP",
  },
} as const satisfies ArgsDef;

export function anchorOf(input: string): Anchor {
  const ref = resolveCgroup(input);
  requireRuleDepth(ref);
  return { id: ref.id, path: ref.path };
}

export function reportChange(r: ChangeResult, store: PolicyStore, json: boolean | undefined, verb: string): void {
  const view = viewRule(r.rule, new CgroupNames(), store);
  if (json) return printJson({ changed: r.changed, action: r.action, rule: view });
  const what = r.action === "unchanged" ? `${verb}: already in place, nothing changed` : `${verb}: ${r.action}`;
  print(`${what}\n${formatRuleLine(view)}`);
}

/** allow and delegate differ only in the gate they add a rule to. */
export function gateRuleCommand(kind: "allow" | "delegate", description: string) {
  return defineCommand({
    meta: { name: kind, description },
    args: { ...cgroupArg, ...selectorArgs, ...jsonArg, ...pinArgs },
    plugins: [strictArgs],
    async run({ args }) {
      const { pinDir } = pinContext(args);
      // Numbers first, strictly: a uid of "007" or "1e3" is a typo, not uid 7 or 1000.
      if (typeof args.uid === "string") parseUid(args.uid);
      if (typeof args.pid === "string") parsePid(args.pid, "--pid");
      const anchor = anchorOf(args.path);
      const { selectors, labels } = parseSelectors(args);
      await withPolicyWriter(pinDir, (state) => {
        const store = new PolicyStore(state);
        reportChange(store.addGateRule(kind, anchor, selectors, labels), store, args.json, `${kind} ${anchor.path}`);
      });
    },
  });
}
