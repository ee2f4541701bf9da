import { defineCommand } from "citty";
import { UsageError } from "../errors.ts";
import { print, printJson } from "../output.ts";
import { withPolicyWriter } from "../pins/session.ts";
import { jsonArg, pinArgs, pinContext, strictArgs } from "./_shared.ts";

export default defineCommand({
  meta: { name: "recording", description: "Record only denials (default), or every decision, in the flight recorder" },
  args: {
    what: { type: "positional", required: true, description: "denials or all", valueHint: "denials|all" },
    ...jsonArg,
    ...pinArgs,
  },
  plugins: [strictArgs],
  async run({ args }) {
    const { pinDir } = pinContext(args);
    if (args.what !== "denials" && args.what !== "all") throw new UsageError(`recording takes denials or all, not '${args.what}'`);
    const verbose = args.what === "all" ? 1 : 0;
    await withPolicyWriter(pinDir, (state) => {
      const s = state.settings();
      const changed = s.verbose !== verbose;
      if (changed) state.writeSettings({ ...s, verbose });
      if (args.json) return printJson({ changed, recording: args.what });
      print(changed ? `recording ${args.what === "all" ? "every decision" : "denials and audit-mode denials only"}` : `recording is already '${args.what}'; nothing changed`);
    });
  },
});
