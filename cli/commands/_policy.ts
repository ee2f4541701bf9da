// Shared by the commands that change policy: the cgroup argument and reporting a change.
import type { ArgsDef } from "citty";
import { requireRuleDepth, resolveCgroup, CgroupNames } from "../kernel/cgroupfs.ts";
import { print, printJson } from "../output.ts";
import { viewRule, formatRuleLine } from "../policy/describe.ts";
import type { ChangeResult, PolicyStore, Anchor } from "../policy/store.ts";

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
