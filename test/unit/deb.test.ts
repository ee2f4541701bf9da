// The Debian package scripts/deb.ts builds: the install-files layout plus
// the conffile, the maintainer scripts, the initramfs trigger and the
// metadata, and lintian clean but for the overrides it ships (each says
// why). The package meets dpkg, apt, initramfs-tools and systemd in the
// system image (test/system/installed.ts installs the machine with it).
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { buildDeb, debianVersion } from "../../scripts/deb.ts";
import pkg from "../../package.json" with { type: "json" };
import { ROOT, spawn } from "../../scripts/project.ts";

const BINARY = join(ROOT, "dist/cgwarden");
const out = mkdtempSync(join(tmpdir(), "cgwarden-deb-test-"));
afterAll(() => rmSync(out, { recursive: true, force: true }));

const run = (argv: string[]) => spawn(argv);

let deb = "";
const field = (name: string) => run(["dpkg-deb", "--field", deb, name]).out.trim();
const control = (file: string) => run(["sh", "-c", `dpkg-deb --ctrl-tarfile '${deb}' | tar -xOf - ./${file}`]).out;

describe("the Debian package", () => {
  test("builds from the compiled binary, named and versioned as Debian names them", () => {
    deb = buildDeb({ out });
    expect(deb).toBe(join(out, `cgwarden_${debianVersion(pkg.version)}_amd64.deb`));
    expect(debianVersion("0.1.0")).toBe("0.1.0-1");
    expect(debianVersion("0.2.0-rc1")).toBe("0.2.0~rc1-1");
    expect(field("Package")).toBe("cgwarden");
    expect(field("Architecture")).toBe("amd64");
    // libbpf is dlopen()ed, so no shlibs scan finds it: the dependency is stated.
    expect(field("Depends")).toBe("libc6 (>= 2.17), libbpf1 (>= 1:1.1)");
    expect(Number(field("Installed-Size"))).toBeGreaterThan(100_000);
  }, 180_000);

  test("holds the install-files layout, the shipped policy as its one conffile, and nothing else", () => {
    const stage = mkdtempSync(join(tmpdir(), "cgwarden-deb-layout-"));
    try {
      const layout = JSON.parse(run([BINARY, "install-files", "--prefix", stage, "--json"]).out).files.map((f: { path: string }) =>
        f.path === "usr/share/man/man8/cgwarden.8" ? `${f.path}.gz` : f.path,
      );
      const listed = run(["dpkg-deb", "--contents", deb]).out.trim().split("\n");
      const files = listed.filter((l) => !l.startsWith("d")).map((l) => l.split(/\s+/).at(-1)!.replace(/^\.\//, "")).sort();
      expect(files).toEqual(
        [...layout, "etc/cgwarden/policy.toml", "usr/share/doc/cgwarden/changelog.Debian.gz", "usr/share/doc/cgwarden/copyright", "usr/share/lintian/overrides/cgwarden"].sort(),
      );
      // The drop-in directory is the package's, empty: dpkg removes it with the package unless the admin's files are in it.
      expect(listed.filter((l) => l.endsWith("./etc/cgwarden/policy.d/")).map((l) => l.slice(0, 10))).toEqual(["drwxr-xr-x"]);
      // Every entry root's, the archive's ./ (the mode dpkg would give /) 0755.
      expect(listed.every((l) => l.includes(" root/root "))).toBe(true);
      expect(listed[0]).toStartWith("drwxr-xr-x");
    } finally {
      rmSync(stage, { recursive: true, force: true });
    }
    expect(control("conffiles")).toBe("/etc/cgwarden/policy.toml\n");
    const policy = run(["sh", "-c", `dpkg-deb --fsys-tarfile '${deb}' | tar -xOf - ./etc/cgwarden/policy.toml`]).out;
    expect(policy).toBe(readFileSync(join(ROOT, "examples/services-stay-put.toml"), "utf8"));
  }, 120_000);

  test("the maintainer scripts parse, enable the unit without starting it, and the initramfs follows every change", () => {
    for (const script of ["postinst", "prerm", "postrm"]) {
      const text = control(script) as string;
      expect(run(["sh", "-n", "-c", text]).code).toBe(0);
      const commands = text.split("\n").filter((l) => !/^\s*#/.test(l)).join("\n");
      expect(commands).not.toMatch(/systemctl (--system )?(start|restart)|deb-systemd-invoke (start|restart)/);
    }
    expect(control("postinst")).toContain("deb-systemd-helper enable cgwarden.service");
    expect(control("postrm")).toContain("deb-systemd-helper purge cgwarden.service");
    expect(control("triggers")).toContain("\nactivate-noawait update-initramfs\n");
  });

  test("lintian: clean, with an override and its reason for each thing the Bun executable cannot change", () => {
    const r = run(["lintian", "--tag-display-limit", "0", deb]);
    expect(r.out).toBe("");
    expect(r.code).toBe(0);
    const overrides = readFileSync(join(ROOT, "packaging/debian/lintian-overrides"), "utf8");
    for (const tag of ["unstripped-binary-or-object", "hardening-no-pie", "hardening-no-relro", "embedded-library", "initial-upload-closes-no-bugs"])
      expect(overrides).toContain(`cgwarden: ${tag}`);
  }, 180_000);
});
