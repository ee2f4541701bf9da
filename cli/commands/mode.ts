import { defineCommand } from "./_define.ts";
import { print, printJson } from "../output.ts";
import type { ModeName } from "../object/abi.ts";
import { PolicyStore } from "../pins/store.ts";
import { notLoaded, withLoadedPolicyWriter } from "../pins/session.ts";
import { provenance } from "./_provenance.ts";
import { jsonArg, pinArgs, pinContext } from "./_shared.ts";

export default defineCommand({
  meta: {
    name: "mode",
    description: "Switch every lock to audit mode at once, or back to each lock's own mode (one atomic change; cgwarden must be loaded)",
  },
  args: {
    mode: { type: "positional", required: true, description: "enforce or audit", options: ["enforce", "audit"] },
    ...jsonArg,
    ...pinArgs,
  },
  async run({ args }) {
    const { pinDir } = pinContext(args);
    const wanted = args.mode as ModeName;
    // Not loaded means no locks to switch; saying so beats loading cgwarden to flip a mode nothing uses.
    const before = await withLoadedPolicyWriter(pinDir, (state) => {
      const store = new PolicyStore(state);
      const spec = store.spec();
      store.replace({ ...spec, globalMode: wanted }, false, provenance("mode"));
      return spec.globalMode;
    });
    if (before === null) throw notLoaded(pinDir);
    if (args.json) return printJson({ changed: before !== wanted, mode: wanted });
    print(
      before === wanted
        ? `mode is already ${wanted}; nothing changed`
        : wanted === "audit"
          ? "mode audit: every lock now records would-be denials instead of denying (each lock keeps its own mode for 'cgwarden mode enforce')"
          : "mode enforce: each lock is back in its own mode",
    );
  },
});

export const examples = [
  "cgwarden mode audit       # every lock only records, at once",
  "cgwarden mode enforce     # each lock back to its own mode",
];
