import { defineCommand } from "./_define.ts";
import { print, printJson } from "../output.ts";
import { withWriterLock } from "../pins/serialize.ts";
import { unloadWarden } from "../pins/unload.ts";
import { jsonArg, pinArgs, pinContext } from "./_shared.ts";

export default defineCommand({
  meta: { name: "unload", description: "Detach cgwarden and remove every pin, policy included (a no-op when not loaded)" },
  args: { ...jsonArg, ...pinArgs },
  async run({ args }) {
    const { pinDir } = pinContext(args);
    const r = await withWriterLock(pinDir, () => unloadWarden(pinDir));
    if (args.json) return printJson({ changed: r.wasLoaded || r.strays.length > 0, removed: r.removed, strays: r.strays, left: r.left, pinDir });
    const also = r.strays.length ? `; also removed ${r.strays.length} entries cgwarden does not create: ${r.strays.join(", ")}` : "";
    const left = r.left.length ? `; left ${r.left.length} entries that are not cgwarden's in ${pinDir}: ${r.left.join(", ")} (remove them by hand if nothing needs them)` : "";
    if (r.wasLoaded) print(`unloaded cgwarden: detached and removed ${r.removed.length} pins from ${pinDir}${also}${left}`);
    else print(`cgwarden is not loaded at ${pinDir}; nothing to unload${also}${left}`);
  },
});

export const examples = [
  "cgwarden unload           # ends enforcement and drops the policy",
];
