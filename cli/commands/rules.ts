import { defineCommand } from "citty";
import { print, printJson } from "../output.ts";
import { CgroupNames } from "../kernel/cgroupfs.ts";
import { formatRuleLine, viewRule } from "../policy/describe.ts";
import { PolicyStore } from "../policy/store.ts";
import { modeName } from "../object/abi.ts";
import { withPolicyReader } from "../pins/session.ts";
import { jsonArg, pinArgs, pinContext, strictArgs } from "./_shared.ts";

export default defineCommand({
  meta: { name: "rules", description: "List the rules in force, with stable ids" },
  args: { ...jsonArg, ...pinArgs },
  plugins: [strictArgs],
  run({ args }) {
    const { pinDir } = pinContext(args);
    const out = withPolicyReader(pinDir, (state) => {
      const store = new PolicyStore(state);
      const names = new CgroupNames();
      return { globalMode: modeName(state.settings().global_mode), rules: store.rules().map((r) => viewRule(r, names, store)) };
    });
    if (args.json) return printJson({ loaded: !!out, globalMode: out?.globalMode ?? null, rules: out?.rules ?? [] });
    if (!out) return print(`cgwarden is not loaded (pin directory ${pinDir}); no rules`);
    print(`global mode: ${out.globalMode}`);
    if (out.rules.length === 0) return print("no rules");
    print("  ID  KIND     CGROUP  DETAILS");
    for (const v of out.rules) {
      print(formatRuleLine(v));
      for (const w of v.warnings) print(`        ! ${w}`);
    }
  },
});

export const examples = [
  "cgwarden rules",
  "cgwarden rules --json | jq '.rules[] | select(.state != \"live\")'",
];
