// The files a distribution package of cgwarden installs, laid out under a
// prefix: the binary, the boot integration (embedded/boot/), the manual,
// completions and the examples. The binary stays the only runtime
// requirement besides libbpf.
import { chmodSync, existsSync, lstatSync, mkdirSync, readFileSync, realpathSync, renameSync, statSync, writeFileSync } from "node:fs";
import { dirname, join, relative, sep } from "node:path";
import service from "../../embedded/boot/cgwarden.service" with { type: "text" };
import initramfsHook from "../../embedded/boot/initramfs-tools/hooks/cgwarden" with { type: "text" };
import initramfsScript from "../../embedded/boot/initramfs-tools/scripts/init-bottom/cgwarden" with { type: "text" };
import dracutSetup from "../../embedded/boot/dracut/90cgwarden/module-setup.sh" with { type: "text" };
import dracutApply from "../../embedded/boot/dracut/90cgwarden/cgwarden-apply.sh" with { type: "text" };
import examplePolicy from "../../examples/policy.toml" with { type: "text" };
import exampleServices from "../../examples/services-stay-put.toml" with { type: "text" };
import exampleContainers from "../../examples/container-host.toml" with { type: "text" };
import exampleKubernetes from "../../examples/kubernetes-node.toml" with { type: "text" };
import readme from "../../README.md" with { type: "text" };
import { CliError } from "../errors.ts";
import { completionScript } from "../usage/completion.ts";
import { manPage, readmeSection } from "../usage/manpage.ts";
import type { CommandSpec } from "../usage/spec.ts";
import { VERSION } from "../version.ts";

export interface InstallFile {
  /** Relative to the prefix. */
  path: string;
  mode: number;
  content: Uint8Array | string;
}

export interface Installed {
  path: string;
  action: "written" | "unchanged";
}

const EXEC = 0o755;
const DATA = 0o644;

/**
 * cgwarden(8): the command specs and the README's semantics, for this
 * version. The one manual, installed here and written to dist/ by
 * scripts/build.ts; undated, so a rebuild of the same version is the same page.
 */
export function manualPage(specs: CommandSpec[]): string {
  return manPage(specs, readmeSection(readme, "Semantics"), VERSION, "");
}

/** Everything, in install order: the binary first, so no hook ever names a missing one. `specs`: every command's (commands/_specs.ts). */
export function packageFiles(binary: Uint8Array, specs: CommandSpec[]): InstallFile[] {
  return [
    { path: "usr/sbin/cgwarden", mode: EXEC, content: binary },
    { path: "usr/lib/systemd/system/cgwarden.service", mode: DATA, content: service },
    { path: "usr/share/initramfs-tools/hooks/cgwarden", mode: EXEC, content: initramfsHook },
    { path: "usr/share/initramfs-tools/scripts/init-bottom/cgwarden", mode: EXEC, content: initramfsScript },
    { path: "usr/lib/dracut/modules.d/90cgwarden/module-setup.sh", mode: EXEC, content: dracutSetup },
    { path: "usr/lib/dracut/modules.d/90cgwarden/cgwarden-apply.sh", mode: EXEC, content: dracutApply },
    { path: "usr/share/man/man8/cgwarden.8", mode: DATA, content: manualPage(specs) },
    { path: "usr/share/bash-completion/completions/cgwarden", mode: DATA, content: completionScript("bash", specs) },
    { path: "usr/share/zsh/vendor-completions/_cgwarden", mode: DATA, content: completionScript("zsh", specs) },
    { path: "usr/share/fish/vendor_completions.d/cgwarden.fish", mode: DATA, content: completionScript("fish", specs) },
    { path: "usr/share/doc/cgwarden/examples/policy.toml", mode: DATA, content: examplePolicy },
    { path: "usr/share/doc/cgwarden/examples/services-stay-put.toml", mode: DATA, content: exampleServices },
    { path: "usr/share/doc/cgwarden/examples/container-host.toml", mode: DATA, content: exampleContainers },
    { path: "usr/share/doc/cgwarden/examples/kubernetes-node.toml", mode: DATA, content: exampleKubernetes },
  ];
}

/**
 * What a prefix may contain: symlinks that stay inside it (a merged-/usr
 * staging tree has `lib -> usr/lib`, and the real root's links are all
 * inside "/"), never one that leads a file out of it, where installing
 * would write into whatever the link names. Checked for every file before
 * the first is written, so a refusal changes nothing. The problem, or null.
 */
export function prefixEscape(prefix: string, files: InstallFile[]): string | null {
  const root = realpathSync(prefix);
  const inside = (p: string) => p === root || root === sep || p.startsWith(root + sep);
  for (const f of files) {
    // Each directory on the way down from the prefix: a symlink among them must resolve inside.
    let at = prefix;
    for (const part of dirname(f.path).split("/").filter(Boolean)) {
      at = join(at, part);
      let link: boolean;
      try {
        link = lstatSync(at).isSymbolicLink();
      } catch {
        break; // not there yet: install creates it, inside whatever held it
      }
      if (!link) continue;
      let real: string;
      try {
        real = realpathSync(at);
      } catch {
        return `--prefix ${prefix}: ${relative(prefix, at)} is a symlink to nothing, so cgwarden cannot know where its files would go; remove it or point it inside the prefix`;
      }
      if (!inside(real))
        return `--prefix ${prefix}: ${relative(prefix, at)} is a symlink to ${real}, outside the prefix, so installing would write there; stage into a directory whose symlinks stay inside it (merged-/usr links like lib -> usr/lib are fine)`;
    }
  }
  return null;
}

/**
 * Writes each file whose bytes or mode differ, through a temporary file and
 * a rename, so a running cgwarden or a half-written hook is never seen.
 * Refuses, before writing anything, a prefix with a symlink out of it.
 */
export function install(prefix: string, files: InstallFile[]): Installed[] {
  mkdirSync(prefix, { recursive: true });
  const escape = prefixEscape(prefix, files);
  if (escape) throw new CliError(escape);
  return files.map((f) => {
    const target = join(prefix, f.path);
    const bytes = Buffer.from(f.content);
    try {
      if (existsSync(target) && (statSync(target).mode & 0o7777) === f.mode && readFileSync(target).equals(bytes))
        return { path: f.path, action: "unchanged" as const };
      mkdirSync(dirname(target), { recursive: true });
      const tmp = `${target}.cgwarden-new`;
      writeFileSync(tmp, bytes, { mode: f.mode });
      chmodSync(tmp, f.mode);
      renameSync(tmp, target);
      return { path: f.path, action: "written" as const };
    } catch (e) {
      throw new CliError({ problem: `cannot install ${target}: ${(e as Error).message}`, fix: `files before it in the list are in place, run again once fixed` });
    }
  });
}
