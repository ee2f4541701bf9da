import { defineCommand } from "./_define.ts";
import { print, printJson } from "../output.ts";
import { formatRuleLine, viewRule } from "../policy/describe.ts";
import { PolicyStore } from "../pins/store.ts";
import { modeName } from "../object/abi.ts";
import { withPolicyReader } from "../pins/session.ts";
import { jsonArg, pinArgs, pinContext } from "./_shared.ts";

export default defineCommand({
  meta: { name: "rules", description: "List the rules in force, with stable ids, their paths and whether each is bound now" },
  args: { ...jsonArg, ...pinArgs },
  run({ args }) {
    const { pinDir } = pinContext(args);
    const out = withPolicyReader(pinDir, (state) => {
      const store = new PolicyStore(state);
      const records = store.records();
      const binds = store.bindStates(records);
      return { globalMode: modeName(state.settings().global_mode), rules: records.map((r) => viewRule(r, binds.get(r.id)!)) };
    });
    if (args.json) return printJson({ loaded: !!out, globalMode: out?.globalMode ?? null, rules: out?.rules ?? [] });
    if (!out) return print(`cgwarden is not loaded (pin directory ${pinDir}); no rules`);
    print(`global mode: ${out.globalMode}`);
    if (out.rules.length === 0) return print("no rules");
    print("  ID  KIND     PATH  DETAILS  [BINDING]");
    for (const v of out.rules) {
      print(formatRuleLine(v));
      for (const w of v.warnings) print(`        ! ${w}`);
    }
  },
});

export const examples = [
  "cgwarden rules",
  "cgwarden rules --json | jq '.rules[] | select(.state == \"waiting\")'",
];
