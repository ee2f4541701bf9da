import { defineCommand } from "citty";
import { PolicyStore } from "../policy/store.ts";
import { parseSelectors, selectorArgs } from "../policy/selectors.ts";
import { withPolicyWriter } from "../pins/session.ts";
import { jsonArg, pinArgs, pinContext, strictArgs } from "./_shared.ts";
import { anchorOf, cgroupArg, reportChange } from "./_policy.ts";

export default defineCommand({
  meta: { name: "allow", description: "Let matching actors pass the lock on this cgroup (and only that lock)" },
  args: { ...cgroupArg, ...selectorArgs, ...jsonArg, ...pinArgs },
  plugins: [strictArgs],
  async run({ args }) {
    const { pinDir } = pinContext(args);
    const anchor = anchorOf(args.path);
    const { selectors, labels } = parseSelectors(args);
    await withPolicyWriter(pinDir, (state) => {
      const store = new PolicyStore(state);
      reportChange(store.addGateRule("allow", anchor, selectors, labels), store, args.json, `allow ${anchor.path}`);
    });
  },
});
