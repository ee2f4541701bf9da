// On this development machine (and CI's), the host kernel refuses LSM and
// trampoline programs: `check` must say so and exit non-zero, and `load`
// must refuse before attaching anything. Never attaches on the host.
import { describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { ROOT } from "../../scripts/project.ts";

const BINARY = resolve(ROOT, "dist/cgwarden");
const argv = (args: string[]) => (existsSync(BINARY) ? [BINARY, ...args] : [process.execPath, resolve(ROOT, "cli/main.ts"), ...args]);
const run = (...args: string[]) => {
  const p = Bun.spawnSync(argv(args), { env: { ...process.env, NO_COLOR: "1" }, stdout: "pipe", stderr: "pipe" });
  return { code: p.exitCode, out: p.stdout.toString(), err: p.stderr.toString() };
};

// Set by whoever runs the suite on a host that can enforce (none of ours can).
const hostEnforces = process.env.CGWARDEN_HOST_ENFORCES === "1";

describe.skipIf(hostEnforces || process.getuid?.() !== 0)("on this host", () => {
  test("check exits 1 and explains that the kernel refuses cgwarden's programs, naming one", () => {
    const r = run("check");
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/the kernel refuses cgwarden's object: .*Operation not permitted.*; program cgwarden_\w+/);
    expect(r.out).toContain("does not allow BPF trampolines");
    expect(r.out).toContain("verdict: cannot enforce on this kernel");
    expect(r.out).toMatch(/fix: .*boot a kernel that does/);
  });

  test("check --json says the same", () => {
    const r = run("check", "--json");
    expect(r.code).toBe(1);
    const report = JSON.parse(r.out);
    expect(report).toMatchObject({ canEnforce: false, mechanism: null });
    expect(report.items.find((i: { id: string }) => i.id === "load").state).toBe("fail");
  });

  test("load refuses with one line and pins nothing", () => {
    const pinDir = "/sys/fs/bpf/cgwarden-host-test";
    const r = run("load", "--pin-dir", pinDir);
    expect(r.code).toBe(1);
    expect(r.err.trim().split("\n")).toHaveLength(1);
    expect(r.err).toContain("cannot enforce on this kernel");
    expect(existsSync(pinDir)).toBe(false);
  });
});

describe("without libbpf", () => {
  test("one line names the package to install", () => {
    const p = Bun.spawnSync(argv(["check"]), { env: { ...process.env, NO_COLOR: "1", CGWARDEN_LIBBPF: "/nonexistent/libbpf.so.1" }, stdout: "pipe", stderr: "pipe" });
    expect(p.exitCode).toBe(1);
    expect(p.stderr.toString().trim()).toMatch(/^cgwarden: cannot load libbpf\.so\.1 \(.*\); install it with: apt-get install libbpf1$/);
  });
});

// A manager's cgwarden must run cgwarden's code only: Bun's standalone executables
// otherwise read bunfig.toml (preload = [...]) and .env from the working directory.
describe.skipIf(!existsSync(BINARY))("the executable", () => {
  test("reads no bunfig.toml, .env, package.json or tsconfig.json from its working directory", () => {
    const dir = mkdtempSync(join(tmpdir(), "cgw-cwd-"));
    try {
      writeFileSync(join(dir, "preload.js"), 'console.error("PRELOAD RAN");\n');
      writeFileSync(join(dir, "bunfig.toml"), 'preload = ["./preload.js"]\n');
      writeFileSync(join(dir, ".env"), "CGW_FROM_DOTENV=1\nBUN_OPTIONS=--preload ./preload.js\n");
      writeFileSync(join(dir, "package.json"), '{"scripts":{"version":"echo PACKAGE SCRIPT RAN"}}\n');
      writeFileSync(join(dir, "tsconfig.json"), '{"compilerOptions":{"paths":{"citty":["./preload.js"]}}}\n');
      const p = Bun.spawnSync([BINARY, "--version"], { cwd: dir, stdout: "pipe", stderr: "pipe" });
      expect({ code: p.exitCode, err: p.stderr.toString(), out: p.stdout.toString().trim() }).toMatchObject({ code: 0, err: "" });
      expect(p.stdout.toString()).not.toContain("RAN");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
