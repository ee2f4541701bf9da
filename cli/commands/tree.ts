import { readFileSync } from "node:fs";
import { defineCommand } from "./_define.ts";
import { print, printJson } from "../output.ts";
import { cgroupPids, cgroupTree, resolveCgroup } from "../kernel/cgroupfs.ts";
import { readRecords } from "../audit/records.ts";
import { Verdict, Via } from "../object/abi.ts";
import { emptyPolicy } from "../policy/model.ts";
import { PolicyStore } from "../pins/store.ts";
import { formatTree, policyTree } from "../policy/tree.ts";
import { withPolicyReader } from "../pins/session.ts";
import { jsonArg, pinArgs, pinContext } from "./_shared.ts";

export default defineCommand({
  meta: { name: "tree", description: "The live cgroup tree with the policy on it: what binds each cgroup, its locks and gates, recent denials, and cgroups a template seems meant to cover but does not" },
  args: {
    path: { type: "positional", required: false, description: "Top of the tree to show (default: the root)", valueHint: "PATH" },
    processes: { type: "boolean", alias: "p", description: "List each cgroup's processes" },
    ...jsonArg,
    ...pinArgs,
  },
  run({ args }) {
    const { pinDir } = pinContext(args);
    const top = resolveCgroup(args.path ?? "/").path;
    const cgroups = cgroupTree(top);
    const live = withPolicyReader(pinDir, (state) => {
      const denials = new Map<bigint, number>();
      for (const r of readRecords(state)) {
        if (r.verdict !== Verdict.deny || r.via === Via.tamper) continue;
        for (const id of new Set([r.src_cgroup, r.dst_cgroup])) denials.set(id, (denials.get(id) ?? 0) + 1);
      }
      return { policy: new PolicyStore(state).livePolicy(), denials };
    });
    const rows = policyTree({ cgroups, policy: live?.policy ?? emptyPolicy(), denials: live?.denials ?? new Map(), pids: args.processes ? cgroupPids : undefined });
    if (args.json) return printJson({ loaded: !!live, cgroups: rows });
    if (!live) print(`cgwarden is not loaded (pin directory ${pinDir}); no rule binds any cgroup`);
    for (const line of formatTree(rows, comm)) print(line);
  },
});

function comm(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/comm`, "utf8").trim();
  } catch {
    return "(exited)";
  }
}

export const examples = [
  "cgwarden tree /system.slice",
  "cgwarden tree --json | jq -r '.cgroups[] | select(.uncovered) | .path'",
  "cgwarden tree -p /user.slice",
];
