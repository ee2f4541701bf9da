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
    sources: { type: "boolean", description: "Above each rule, a comment naming the policy file and line it was applied from, or that a command made it (TOML only)" },
    ...pinArgs,
  },
  run({ args }) {
    const { pinDir } = pinContext(args);
    const format = args.format ?? "toml";
    if (args.sources && format === "json") throw new UsageError({ problem: "--sources writes TOML comments, and JSON has none", fix: "drop --format json, or read each rule's source from 'cgwarden rules --json'" });
    // Not loaded: the policy in force is the empty one, and that is a valid file too.
    const spec = withPolicyReader(pinDir, (state) => ({ ...new PolicyStore(state).spec(), seal: sealSpecOf(state.seal()) })) ?? emptySpec();
    const doc = documentOfSpec(spec, !!args.sources);
    print((format === "json" ? formatJson(doc) : formatToml(doc)).replace(/\n$/, ""));
  },
});

export const examples = [
  "cgwarden export > /etc/cgwarden/policy.toml",
  "cgwarden export --format json | jq '.lock[].path'",
  "cgwarden export --sources                     # which file (policy.toml, a drop-in) each rule came from",
];
