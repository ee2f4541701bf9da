import { readFileSync } from "node:fs";
import { defineCommand } from "./_define.ts";
import { CliError, UsageError } from "../errors.ts";
import { install, packageFiles } from "../install/layout.ts";
import { commandSpecs } from "./_specs.ts";
import { print, printJson } from "../output.ts";
import { jsonArg } from "./_shared.ts";

export default defineCommand({
  meta: {
    name: "install-files",
    description: "Lay out the binary, cgwarden.service, the initramfs-tools hook, the dracut module, manual and completions under a prefix, as a package would",
  },
  args: {
    prefix: { type: "string", description: "Root of the layout: / for this machine, or a package's staging directory", valueHint: "DIR", required: true },
    ...jsonArg,
  },
  async run({ args }) {
    const prefix = args.prefix;
    if (!prefix) throw new UsageError("give --prefix DIR: / installs on this machine, any other directory stages a package");
    if (!prefix.startsWith("/")) throw new UsageError(`--prefix takes an absolute directory, not '${prefix}'`);
    const files = packageFiles(ownBinary(), await commandSpecs());
    const done = install(prefix, files);
    if (args.json) return printJson({ changed: done.some((d) => d.action === "written"), prefix, files: done });
    for (const d of done) print(`${d.action === "written" ? "installed" : "unchanged"}  ${prefix.replace(/\/$/, "")}/${d.path}`);
    if (prefix === "/")
      print("next: write /etc/cgwarden/policy.toml, then 'systemctl enable cgwarden.service' and rebuild the initramfs (update-initramfs -u, or dracut -f)");
  },
});

/** The running executable: install-files copies the binary it is. */
function ownBinary(): Uint8Array {
  // A compiled cgwarden runs its bundle from Bun's embedded filesystem; from source, process.execPath is bun itself.
  if (!Bun.main.startsWith("/$bunfs/"))
    throw new CliError({ problem: "install-files copies the compiled binary it runs as", fix: "build it (bun scripts/build.ts) and run dist/cgwarden install-files" });
  return readFileSync(process.execPath);
}

export const examples = [
  "cgwarden install-files --prefix /                # this machine",
  "cgwarden install-files --prefix \"$DESTDIR\"       # a package's staging directory",
];
