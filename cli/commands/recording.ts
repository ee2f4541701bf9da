import { defineCommand } from "./_define.ts";
import { print, printJson } from "../output.ts";
import { PolicyStore } from "../pins/store.ts";
import { notLoaded, withLoadedPolicyWriter } from "../pins/session.ts";
import { jsonArg, pinArgs, pinContext } from "./_shared.ts";
import { provenance } from "./_provenance.ts";

export default defineCommand({
  meta: { name: "recording", description: "Record only denials (default), or every decision, in the flight recorder (cgwarden must be loaded)" },
  args: {
    what: { type: "positional", required: true, description: "denials or all", options: ["denials", "all"] },
    ...jsonArg,
    ...pinArgs,
  },
  async run({ args }) {
    const { pinDir } = pinContext(args);
    // Not loaded means nothing decides, so nothing to record; the admin loads cgwarden first.
    const changed = await withLoadedPolicyWriter(pinDir, (state) => {
      const store = new PolicyStore(state);
      return store.replace({ ...store.spec(), recordAll: args.what === "all" }, false, provenance("recording")).changed;
    });
    if (changed === null) throw notLoaded(pinDir);
    if (args.json) return printJson({ changed, recording: args.what });
    print(changed ? `recording ${args.what === "all" ? "every decision" : "denials and audit-mode denials only"}` : `recording is already '${args.what}'; nothing changed`);
  },
});

export const examples = [
  "cgwarden recording all     # record every decision, allowed ones too",
  "cgwarden recording denials",
];
