import { defineCommand } from "./_define.ts";
import { UsageError } from "../errors.ts";
import { print } from "../output.ts";
import { formatJson, formatToml } from "../policy/file/format.ts";
import { documentOfSpec } from "../policy/file/resolve.ts";
import { emptySpec } from "../policy/spec.ts";
import { PolicyStore } from "../pins/store.ts";
import { sealSpecOf } from "../pins/seal.ts";
import { withPolicyReader } from "../pins/session.ts";
import { pinArgs, pinContext } from "./_shared.ts";

export default defineCommand({
  meta: { name: "export", description: "Write the policy in force as a policy file; applying it is a no-op" },
  args: {
    format: { type: "string", description: "toml (default) or json", options: ["toml", "json"] },
    ...pinArgs,
  },
  run({ args }) {
    const { pinDir } = pinContext(args);
    const format = args.format ?? "toml";
    // Not loaded: the policy in force is the empty one, and that is a valid file too.
    const spec = withPolicyReader(pinDir, (state) => ({ ...new PolicyStore(state).spec(), seal: sealSpecOf(state.seal()) })) ?? emptySpec();
    const doc = documentOfSpec(spec);
    print((format === "json" ? formatJson(doc) : formatToml(doc)).replace(/\n$/, ""));
  },
});

export const examples = [
  "cgwarden export > /etc/cgwarden/policy.toml",
  "cgwarden export --format json | jq '.lock[].path'",
];
