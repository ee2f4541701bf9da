import { defineCommand } from "./_define.ts";
import { parseRuleId } from "../policy/numbers.ts";
import { print, printJson } from "../output.ts";
import { PolicyStore } from "../pins/store.ts";
import { withLoadedPolicyWriter } from "../pins/session.ts";
import { provenance } from "./_provenance.ts";
import { jsonArg, pinArgs, pinContext } from "./_shared.ts";

export default defineCommand({
  meta: { name: "remove", description: "Remove a rule by its id (see 'cgwarden rules'); a no-op when there is no such rule or cgwarden is not loaded" },
  args: { id: { type: "positional", required: true, description: "Rule id", valueHint: "RULE_ID" }, ...jsonArg, ...pinArgs },
  async run({ args }) {
    const { pinDir } = pinContext(args);
    const id = parseRuleId(args.id);
    // Not loaded means no rules: removing one is already done, and loading cgwarden to find that out would attach programs.
    const r = await withLoadedPolicyWriter(pinDir, (state) => {
      const store = new PolicyStore(state);
      const spec = store.spec();
      const rules = store.identified();
      return { removed: store.replace({ ...spec, rules: rules.filter((x) => x.id !== id).map((x) => x.spec) }, false, provenance("remove")).diff.removed.length > 0 };
    });
    if (args.json) return printJson({ changed: !!r?.removed, id, loaded: r !== null });
    if (!r) return print(`no rule ${id} (cgwarden is not loaded), nothing changed`);
    print(r.removed ? `removed rule ${id}` : `no rule ${id}, nothing changed`);
  },
});

export const examples = [
  "cgwarden remove 12",
];
