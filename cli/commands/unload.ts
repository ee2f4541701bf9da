import { defineCommand } from "citty";
import { print, printJson } from "../output.ts";
import { withWriterLock } from "../pins/serialize.ts";
import { unloadWarden } from "../pins/unload.ts";
import { jsonArg, pinArgs, pinContext, strictArgs } from "./_shared.ts";

export default defineCommand({
  meta: { name: "unload", description: "Detach cgwarden and remove every pin, policy included (a no-op when not loaded)" },
  args: { ...jsonArg, ...pinArgs },
  plugins: [strictArgs],
  async run({ args }) {
    const { pinDir } = pinContext(args);
    const r = await withWriterLock(pinDir, () => unloadWarden(pinDir));
    if (args.json) printJson({ changed: r.wasLoaded, removed: r.removed, pinDir });
    else print(r.wasLoaded ? `unloaded cgwarden: detached and removed ${r.removed.length} pins from ${pinDir}` : `cgwarden is not loaded at ${pinDir}; nothing to do`);
  },
});
