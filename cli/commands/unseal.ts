import { defineCommand } from "./_define.ts";
import { print, printJson } from "../output.ts";
import { applySeal, cliIdentity } from "../pins/seal.ts";
import { withLoadedPolicyWriter } from "../pins/session.ts";
import { jsonArg, pinArgs, pinContext } from "./_shared.ts";

export default defineCommand({
  meta: { name: "unseal", description: "Lift the seal (managers only; a seal --until-reboot lifts only at boot)" },
  args: { ...jsonArg, ...pinArgs },
  async run({ args }) {
    const { pinDir } = pinContext(args);
    const r = await withLoadedPolicyWriter(pinDir, (state) => applySeal(state, null, cliIdentity(null)));
    const changed = r === null ? false : r.changed;
    if (args.json) return printJson({ changed });
    print(changed ? `unsealed the policy at ${pinDir}` : `the policy at ${pinDir} is not sealed; nothing changed`);
  },
});

export const examples = ["cgwarden unseal            # run by a manager"];
