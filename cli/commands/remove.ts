import { defineCommand } from "citty";
import { UsageError } from "../errors.ts";
import { print, printJson } from "../output.ts";
import { PolicyStore } from "../policy/store.ts";
import { withPolicyWriter } from "../pins/session.ts";
import { jsonArg, pinArgs, pinContext, strictArgs } from "./_shared.ts";

export default defineCommand({
  meta: { name: "remove", description: "Remove a rule by its id (see 'cgwarden rules')" },
  args: { id: { type: "positional", required: true, description: "Rule id", valueHint: "RULE_ID" }, ...jsonArg, ...pinArgs },
  plugins: [strictArgs],
  async run({ args }) {
    const { pinDir } = pinContext(args);
    if (!/^[1-9][0-9]*$/.test(args.id)) throw new UsageError(`rule id must be a positive number, not '${args.id}'`);
    const id = Number(args.id);
    await withPolicyWriter(pinDir, (state) => {
      const r = new PolicyStore(state).removeRule(id);
      if (args.json) return printJson({ changed: !!r, id });
      print(r ? `removed rule ${id}` : `no rule ${id}, nothing changed`);
    });
  },
});
