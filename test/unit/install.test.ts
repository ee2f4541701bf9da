// `cgwarden install-files`: the package layout from the compiled binary, its
// idempotence, and the boot files themselves (shell syntax, the unit's
// ordering). The boot files meet a real initramfs and systemd in the
// system-image tests (test/system).
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT, spawn } from "../../scripts/project.ts";

const BINARY = join(ROOT, "dist/cgwarden");
const prefix = mkdtempSync(join(tmpdir(), "cgwarden-install-"));
afterAll(() => rmSync(prefix, { recursive: true, force: true }));

const run = (argv: string[]) => spawn(argv);

describe("install-files", () => {
  test("the compiled binary exists (bun scripts/build.ts runs before these tests)", () => {
    expect(existsSync(BINARY)).toBe(true);
  });

  test("lays out what a package installs, then is a no-op", () => {
    const first = run([BINARY, "install-files", "--prefix", prefix, "--json"]);
    expect(first.code).toBe(0);
    const r = JSON.parse(first.out);
    expect(r.changed).toBe(true);
    expect(r.files.map((f: { path: string }) => f.path)).toEqual([
      "usr/sbin/cgwarden",
      "usr/lib/systemd/system/cgwarden.service",
      "usr/share/initramfs-tools/hooks/cgwarden",
      "usr/share/initramfs-tools/scripts/init-bottom/cgwarden",
      "usr/lib/dracut/modules.d/90cgwarden/module-setup.sh",
      "usr/lib/dracut/modules.d/90cgwarden/cgwarden-apply.sh",
      "usr/share/man/man8/cgwarden.8",
      "usr/share/bash-completion/completions/cgwarden",
      "usr/share/zsh/vendor-completions/_cgwarden",
      "usr/share/fish/vendor_completions.d/cgwarden.fish",
      "usr/share/doc/cgwarden/examples/policy.toml",
      "usr/share/doc/cgwarden/examples/services-stay-put.toml",
      "usr/share/doc/cgwarden/examples/container-host.toml",
      "usr/share/doc/cgwarden/examples/kubernetes-node.toml",
    ]);
    expect(readFileSync(join(prefix, "usr/sbin/cgwarden")).equals(readFileSync(BINARY))).toBe(true);
    for (const exec of ["usr/sbin/cgwarden", "usr/share/initramfs-tools/hooks/cgwarden", "usr/lib/dracut/modules.d/90cgwarden/module-setup.sh"])
      expect(statSync(join(prefix, exec)).mode & 0o777).toBe(0o755);
    expect(statSync(join(prefix, "usr/lib/systemd/system/cgwarden.service")).mode & 0o777).toBe(0o644);
    const again = JSON.parse(run([BINARY, "install-files", "--prefix", prefix, "--json"]).out);
    expect(again.changed).toBe(false);
    expect(again.files.every((f: { action: string }) => f.action === "unchanged")).toBe(true);
  });

  test("a file changed by hand is put back, and only it", () => {
    writeFileSync(join(prefix, "usr/lib/systemd/system/cgwarden.service"), "# edited\n");
    const r = JSON.parse(run([BINARY, "install-files", "--prefix", prefix, "--json"]).out);
    expect(r.files.filter((f: { action: string }) => f.action === "written").map((f: { path: string }) => f.path)).toEqual(["usr/lib/systemd/system/cgwarden.service"]);
  });

  test("bad prefixes are usage errors; from source it says to build", () => {
    expect(run([BINARY, "install-files"]).code).toBe(2);
    expect(run([BINARY, "install-files", "--prefix", "relative/dir"])).toMatchObject({ code: 2, err: "cgwarden: --prefix takes an absolute directory, not 'relative/dir'\n" });
    const fromSource = run([process.execPath, join(ROOT, "cli/main.ts"), "install-files", "--prefix", prefix]);
    expect(fromSource.code).toBe(1);
    expect(fromSource.err).toContain("build it (bun scripts/build.ts)");
  });

  test("a prefix whose symlinks lead out is refused before anything is written; links that stay inside are followed", () => {
    const outside = mkdtempSync(join(tmpdir(), "cgwarden-outside-"));
    const staged = (name: string) => mkdtempSync(join(tmpdir(), `cgwarden-${name}-`));
    const cases = [
      { link: "usr/lib/systemd/system", to: outside },
      { link: "usr", to: outside },
    ];
    try {
      for (const c of cases) {
        const p = staged("escape");
        mkdirSync(join(p, c.link, ".."), { recursive: true });
        symlinkSync(c.to, join(p, c.link));
        const r = run([BINARY, "install-files", "--prefix", p]);
        expect(r.code).toBe(1);
        expect(r.err).toBe(`cgwarden: --prefix ${p}: ${c.link} is a symlink to ${outside}, outside the prefix, so installing would write there; stage into a directory whose symlinks stay inside it (merged-/usr links like lib -> usr/lib are fine)\n`);
        expect(readdirSync(outside)).toEqual([]);
        expect(existsSync(join(p, "usr/sbin/cgwarden"))).toBe(false);
        rmSync(p, { recursive: true, force: true });
      }
      const dangling = staged("dangling");
      symlinkSync("/nonexistent-cgwarden-target", join(dangling, "usr"));
      expect(run([BINARY, "install-files", "--prefix", dangling]).err).toContain("usr is a symlink to nothing");
      rmSync(dangling, { recursive: true, force: true });
      // merged /usr: sbin -> usr/sbin inside the prefix is where the files go
      const merged = staged("merged");
      mkdirSync(join(merged, "real-usr"));
      symlinkSync("real-usr", join(merged, "usr"));
      expect(run([BINARY, "install-files", "--prefix", merged]).code).toBe(0);
      expect(existsSync(join(merged, "real-usr/sbin/cgwarden"))).toBe(true);
      rmSync(merged, { recursive: true, force: true });
    } finally {
      rmSync(outside, { recursive: true, force: true });
    }
  });

  test("the boot scripts parse as the shells that run them", () => {
    for (const [shell, file] of [
      ["sh", "usr/share/initramfs-tools/hooks/cgwarden"],
      ["sh", "usr/share/initramfs-tools/scripts/init-bottom/cgwarden"],
      ["sh", "usr/lib/dracut/modules.d/90cgwarden/cgwarden-apply.sh"],
      ["bash", "usr/lib/dracut/modules.d/90cgwarden/module-setup.sh"],
    ])
      expect(run([shell!, "-n", join(prefix, file!)])).toMatchObject({ code: 0, err: "" });
  });

  test("the initramfs-tools scripts answer prereqs as initramfs-tools asks them", () => {
    for (const file of ["usr/share/initramfs-tools/hooks/cgwarden", "usr/share/initramfs-tools/scripts/init-bottom/cgwarden"])
      expect(run(["sh", join(prefix, file), "prereqs"])).toMatchObject({ code: 0, out: "\n" });
  });

  test("the unit: before every service, after the root is writable, the installed binary, and systemd accepts it", () => {
    const unit = readFileSync(join(prefix, "usr/lib/systemd/system/cgwarden.service"), "utf8");
    const key = (k: string) => unit.split("\n").filter((l) => l.startsWith(`${k}=`)).map((l) => l.slice(k.length + 1));
    expect(key("DefaultDependencies")).toEqual(["no"]);
    expect(key("Before")[0]).toContain("sysinit.target");
    expect(key("WantedBy")).toEqual(["sysinit.target"]);
    // The directory: policy.toml, then its policy.d/ drop-ins; reload applies them again.
    expect(key("ExecStart")).toEqual(["/usr/sbin/cgwarden apply /etc/cgwarden"]);
    expect(key("ExecReload")).toEqual(["/usr/sbin/cgwarden apply /etc/cgwarden"]);
    expect(key("ExecCondition")).toEqual(["/usr/sbin/cgwarden check"]);
    expect(key("Environment")[0]).toContain("CGWARDEN_ORIGIN=unit");
    // systemd-analyze verify checks every directive and that ExecStart's binary exists (it does, under the prefix).
    // --man=no: the page is under the prefix, not where man looks.
    const verify = run(["systemd-analyze", "verify", "--man=no", "--root", prefix, join(prefix, "usr/lib/systemd/system/cgwarden.service")]);
    expect(verify.err.split("\n").filter((l) => l.includes("cgwarden.service"))).toEqual([]);
  });
});
