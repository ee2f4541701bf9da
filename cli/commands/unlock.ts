import { defineCommand } from "citty";
import { print, printJson } from "../output.ts";
import { PolicyStore } from "../policy/store.ts";
import { withPolicyWriter } from "../pins/session.ts";
import { jsonArg, pinArgs, pinContext, strictArgs } from "./_shared.ts";
import { anchorOf, cgroupArg } from "./_policy.ts";

export default defineCommand({
  meta: { name: "unlock", description: "Remove the lock on a cgroup (its allow list stays for a later lock)" },
  args: { ...cgroupArg, ...jsonArg, ...pinArgs },
  plugins: [strictArgs],
  async run({ args }) {
    const { pinDir } = pinContext(args);
    const anchor = anchorOf(args.path);
    await withPolicyWriter(pinDir, (state) => {
      const store = new PolicyStore(state);
      const lock = store.lockAt(anchor.id);
      const r = lock ? store.removeRule(lock.rule_id) : null;
      if (args.json) return printJson({ changed: !!r, removedRule: r?.rule.id ?? null, cgroup: anchor.path });
      print(r ? `unlock ${anchor.path}: removed lock rule ${r.rule.id}` : `unlock ${anchor.path}: no lock there, nothing changed`);
    });
  },
});
