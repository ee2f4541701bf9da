import { defineCommand } from "./_define.ts";
import { print, printJson } from "../output.ts";
import { jsonArg, pinArgs, pinContext } from "./_shared.ts";
import { cgroupArg, changeSpec, rulePath } from "./_policy.ts";

export default defineCommand({
  meta: { name: "unlock", description: "Remove the lock on a path or template (its allow list stays for a later lock); a no-op when cgwarden is not loaded" },
  args: { ...cgroupArg, ...jsonArg, ...pinArgs },
  async run({ args }) {
    const { pinDir } = pinContext(args);
    const path = rulePath(args.path);
    // Not loaded means no lock anywhere: nothing to unlock, and no reason to load cgwarden.
    const c = await changeSpec(
      pinDir,
      (spec) => ({ ...spec, rules: spec.rules.filter((r) => !(r.kind === "lock" && r.path === path)) }),
      { kind: "lock", path, directions: 0, mode: "enforce" },
      { loadIfNeeded: false, by: "unlock" },
    );
    const removed = c && c.action === "removed" ? c.view!.id : null;
    if (args.json) return printJson({ changed: removed !== null, removedRule: removed, path, loaded: c !== null });
    if (!c) return print(`unlock ${path}: cgwarden is not loaded, so there is no lock; nothing changed`);
    print(removed !== null ? `unlock ${path}: removed lock rule ${removed}` : `unlock ${path}: no lock there, nothing changed`);
  },
});

export const examples = [
  "cgwarden unlock /system.slice/foo.service",
  "cgwarden unlock '/system.slice/*.service'",
];
