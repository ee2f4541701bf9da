import { defineCommand } from "./_define.ts";
import { POLICY_SCHEMA } from "../policy/file/schema.ts";
import { print } from "../output.ts";

export default defineCommand({
  meta: { name: "schema", description: "Print the JSON Schema of policy files (the one definition 'apply' validates against)" },
  args: {},
  run() {
    print(JSON.stringify(POLICY_SCHEMA, null, 2));
  },
});

export const examples = ["cgwarden schema > /usr/share/cgwarden/policy.schema.json"];
