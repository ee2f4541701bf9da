import { defineCommand } from "./_define.ts";
import { ALL_DIRECTIONS, Direction } from "../object/abi.ts";
import type { LockSpec } from "../policy/spec.ts";
import { jsonArg, pinArgs, pinContext } from "./_shared.ts";
import { cgroupArg, changeSpec, reportChange, rulePath } from "./_policy.ts";

export default defineCommand({
  meta: { name: "lock", description: "Lock the cgroup at a path (or every cgroup a template matches) against migrations in, out of, or within it" },
  args: {
    ...cgroupArg,
    in: { type: "boolean", description: "Deny moves into the subtree from outside it" },
    out: { type: "boolean", description: "Deny moves from the subtree to outside it" },
    within: { type: "boolean", description: "Deny moves between cgroups inside the subtree" },
    audit: { type: "boolean", description: "Record would-be denials instead of denying" },
    ...jsonArg,
    ...pinArgs,
  },
  async run({ args }) {
    const { pinDir } = pinContext(args);
    const path = rulePath(args.path);
    const given = (args.in ? Direction.in : 0) | (args.out ? Direction.out : 0) | (args.within ? Direction.within : 0);
    const lock: LockSpec = { kind: "lock", path, directions: given || ALL_DIRECTIONS, mode: args.audit ? "audit" : "enforce" };
    const c = await changeSpec(
      pinDir,
      (spec) => ({ ...spec, rules: [...spec.rules.filter((r) => !(r.kind === "lock" && r.path === path)), lock] }),
      lock,
      { loadIfNeeded: true, by: "lock" },
    );
    reportChange(c!, args.json, `lock ${path}`);
  },
});

export const examples = [
  "cgwarden lock /system.slice/foo.service --out",
  "cgwarden lock '/system.slice/*.service' --out          # every service, each on its own",
  "cgwarden lock /system.slice/foo.service --in --out --audit   # record only",
  "cgwarden lock /sys/fs/cgroup/user.slice --within",
];
