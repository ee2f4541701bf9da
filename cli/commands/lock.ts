import { defineCommand } from "citty";
import { ALL_DIRECTIONS, Direction } from "../object/abi.ts";
import { PolicyStore } from "../policy/store.ts";
import { withPolicyWriter } from "../pins/session.ts";
import { jsonArg, pinArgs, pinContext, strictArgs } from "./_shared.ts";
import { anchorOf, cgroupArg, reportChange } from "./_policy.ts";

export default defineCommand({
  meta: { name: "lock", description: "Lock a cgroup subtree against migrations in, out of, or within it" },
  args: {
    ...cgroupArg,
    in: { type: "boolean", description: "Deny moves into the subtree from outside it" },
    out: { type: "boolean", description: "Deny moves from the subtree to outside it" },
    within: { type: "boolean", description: "Deny moves between cgroups inside the subtree" },
    audit: { type: "boolean", description: "Record would-be denials instead of denying" },
    ...jsonArg,
    ...pinArgs,
  },
  plugins: [strictArgs],
  async run({ args }) {
    const { pinDir } = pinContext(args);
    const anchor = anchorOf(args.path);
    const given = (args.in ? Direction.in : 0) | (args.out ? Direction.out : 0) | (args.within ? Direction.within : 0);
    const directions = given || ALL_DIRECTIONS;
    await withPolicyWriter(pinDir, (state) => {
      const store = new PolicyStore(state);
      reportChange(store.setLock(anchor, directions, args.audit ? "audit" : "enforce"), store, args.json, `lock ${anchor.path}`);
    });
  },
});

export const examples = [
  "cgwarden lock /system.slice/foo.service --out",
  "cgwarden lock /system.slice/foo.service --in --out --audit   # record only",
  "cgwarden lock /sys/fs/cgroup/user.slice --within",
];
