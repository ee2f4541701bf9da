import { defineCommand } from "citty";
import { PolicyStore } from "../policy/store.ts";
import { parseSelectors, selectorArgs } from "../policy/selectors.ts";
import { withPolicyWriter } from "../pins/session.ts";
import { jsonArg, pinArgs, pinContext, strictArgs } from "./_shared.ts";
import { anchorOf, cgroupArg, reportChange } from "./_policy.ts";

export default defineCommand({
  meta: { name: "delegate", description: "Let matching actors move tasks anywhere within this cgroup's subtree, past locks at it and above it" },
  args: { ...cgroupArg, ...selectorArgs, ...jsonArg, ...pinArgs },
  plugins: [strictArgs],
  async run({ args }) {
    const { pinDir } = pinContext(args);
    const anchor = anchorOf(args.path);
    const { selectors, labels } = parseSelectors(args);
    await withPolicyWriter(pinDir, (state) => {
      const store = new PolicyStore(state);
      reportChange(store.addGateRule("delegate", anchor, selectors, labels), store, args.json, `delegate ${anchor.path}`);
    });
  },
});
