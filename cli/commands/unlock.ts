import { defineCommand } from "citty";
import { print, printJson } from "../output.ts";
import { PolicyStore } from "../policy/store.ts";
import { withLoadedPolicyWriter } from "../pins/session.ts";
import { jsonArg, pinArgs, pinContext, strictArgs } from "./_shared.ts";
import { anchorOf, cgroupArg } from "./_policy.ts";

export default defineCommand({
  meta: { name: "unlock", description: "Remove the lock on a cgroup (its allow list stays for a later lock); a no-op when cgwarden is not loaded" },
  args: { ...cgroupArg, ...jsonArg, ...pinArgs },
  plugins: [strictArgs],
  async run({ args }) {
    const { pinDir } = pinContext(args);
    const anchor = anchorOf(args.path);
    // Not loaded means no lock anywhere: nothing to unlock, and no reason to load cgwarden.
    const r = await withLoadedPolicyWriter(pinDir, (state) => {
      return { removed: new PolicyStore(state).removeLock(anchor.id)?.rule.id ?? null };
    });
    const removed = r?.removed ?? null;
    if (args.json) return printJson({ changed: removed !== null, removedRule: removed, cgroup: anchor.path, loaded: r !== null });
    if (!r) return print(`unlock ${anchor.path}: cgwarden is not loaded, so there is no lock; nothing changed`);
    print(removed !== null ? `unlock ${anchor.path}: removed lock rule ${removed}` : `unlock ${anchor.path}: no lock there, nothing changed`);
  },
});

export const examples = [
  "cgwarden unlock /system.slice/foo.service",
];
