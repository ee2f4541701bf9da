#!/usr/bin/env bun
// Builds dist/cgwarden_VERSION_amd64.deb from the compiled binary: the
// layout is exactly what `cgwarden install-files` writes (cli/install/
// layout.ts), plus what makes it a Debian package: the shipped policy as
// the conffile /etc/cgwarden/policy.toml (the revised example, the one the
// system tests boot), the maintainer scripts and trigger in
// packaging/debian/, copyright, changelog, md5sums and lintian's
// overrides (each with its reason: what is left is the Bun executable's).
//
//   bun scripts/deb.ts [--version V] [--out DIR]    prints the .deb's path
//
// --version stamps the package (not the binary) with another Debian version
// (default: package.json's, revision 1): the system tests upgrade to a
// rebuilt package that way.
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createHash } from "node:crypto";
import { gzipSync } from "node:zlib";
import { join, relative } from "node:path";
import { tmpdir } from "node:os";
import pkg from "../package.json" with { type: "json" };
import { ROOT, runOk } from "./project.ts";

const BINARY = join(ROOT, "dist/cgwarden");
const PACKAGING = join(ROOT, "packaging/debian");
/** What the package puts in force at boot: the revised example (README, "Policy files"). */
const SHIPPED_POLICY = join(ROOT, "examples/services-stay-put.toml");
const CONFFILES = ["/etc/cgwarden/policy.toml"];

function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    return e.isDirectory() ? walk(p) : [p];
  });
}

/**
 * The package's version: upstream's, a semver pre-release sorting before
 * its release (0.1.0-rc1 → 0.1.0~rc1), then revision 1 of its packaging.
 */
export function debianVersion(upstream: string): string {
  return `${upstream.replace("-", "~")}-1`;
}

export function buildDeb(opts: { version?: string; out?: string } = {}): string {
  if (!existsSync(BINARY)) throw new Error(`${BINARY} is missing: run bun scripts/build.ts first`);
  const version = opts.version ?? debianVersion(pkg.version);
  const out = opts.out ?? join(ROOT, "dist");
  const stage = mkdtempSync(join(tmpdir(), "cgwarden-deb-"));
  chmodSync(stage, 0o755); // the archive's ./ entry: mkdtemp's 0700 is no mode for /
  try {
    // The files, as install-files lays them out (it refuses a prefix with a symlink out of it).
    runOk([BINARY, "install-files", "--prefix", stage, "--json"]);
    // policy.d/: where configuration management drops its files (cgwarden apply /etc/cgwarden reads them after policy.toml).
    mkdirSync(join(stage, "etc/cgwarden/policy.d"), { recursive: true, mode: 0o755 });
    copyFileSync(SHIPPED_POLICY, join(stage, "etc/cgwarden/policy.toml"));
    chmodSync(join(stage, "etc/cgwarden/policy.toml"), 0o644);
    const doc = join(stage, "usr/share/doc/cgwarden");
    mkdirSync(doc, { recursive: true });
    writeFileSync(join(doc, "copyright"), copyright());
    writeFileSync(join(doc, "changelog.Debian.gz"), gzipSync(changelog(version), { level: 9 }));
    // What lintian reports about the Bun executable, with why it stays (packaging/debian/lintian-overrides).
    mkdirSync(join(stage, "usr/share/lintian/overrides"), { recursive: true });
    copyFileSync(join(PACKAGING, "lintian-overrides"), join(stage, "usr/share/lintian/overrides/cgwarden"));
    // Man pages are shipped compressed, as Debian policy asks.
    const man = join(stage, "usr/share/man/man8/cgwarden.8");
    writeFileSync(`${man}.gz`, gzipSync(readFileSync(man), { level: 9 }));
    rmSync(man);

    const files = walk(stage).sort();
    const control = join(stage, "DEBIAN");
    mkdirSync(control);
    const installedKiB = Math.ceil(files.reduce((n, f) => n + statSync(f).size, 0) / 1024);
    writeFileSync(
      join(control, "control"),
      readFileSync(join(PACKAGING, "control.in"), "utf8").replace("@VERSION@", version).replace("@INSTALLED_SIZE@", String(installedKiB)),
    );
    writeFileSync(join(control, "conffiles"), `${CONFFILES.join("\n")}\n`);
    writeFileSync(
      join(control, "md5sums"),
      files
        .filter((f) => !CONFFILES.includes(`/${relative(stage, f)}`))
        .map((f) => `${createHash("md5").update(readFileSync(f)).digest("hex")}  ${relative(stage, f)}`)
        .join("\n") + "\n",
    );
    for (const name of ["postinst", "prerm", "postrm"]) {
      copyFileSync(join(PACKAGING, name), join(control, name));
      chmodSync(join(control, name), 0o755);
    }
    copyFileSync(join(PACKAGING, "triggers"), join(control, "triggers"));
    for (const f of ["control", "conffiles", "md5sums", "triggers"]) chmodSync(join(control, f), 0o644);

    mkdirSync(out, { recursive: true });
    const deb = join(out, `cgwarden_${version}_amd64.deb`);
    // gzip -6: 5 s for the 110 MB binary; xz, a fifth smaller, takes minutes, and lintian refuses zstd (malformed-deb-archive).
    runOk(["dpkg-deb", "--root-owner-group", "-Zgzip", "-z6", "--build", stage, deb]);
    return deb;
  } finally {
    rmSync(stage, { recursive: true, force: true });
  }
}

function copyright(): string {
  return `Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: cgwarden

Files: *
Copyright: 2026 the cgwarden developers
License: GPL-2.0-only
 The BPF programs and the CLI are licensed under the GNU General Public
 License, version 2 only.
 .
 On Debian systems, the full text of the GNU General Public License
 version 2 can be found in the file '/usr/share/common-licenses/GPL-2'.

Files: usr/sbin/cgwarden
Copyright: 2026 the cgwarden developers; the Bun runtime it is compiled with
License: GPL-2.0-only and MIT
 The executable embeds the Bun runtime (MIT) and citty (MIT).
`;
}

function changelog(version: string): string {
  // dpkg-deb needs no date; the entry's date is the package's build, in Debian's format.
  const date = runOk(["date", "-R"]).trim();
  return `cgwarden (${version}) unstable; urgency=medium\n\n  * Built from the cgwarden repository by scripts/deb.ts.\n\n -- cgwarden developers <cgwarden@example.org>  ${date}\n`;
}

if (import.meta.main) {
  const arg = (name: string) => {
    const i = process.argv.indexOf(name);
    return i > 0 ? process.argv[i + 1] : undefined;
  };
  console.log(buildDeb({ version: arg("--version"), out: arg("--out") }));
}
