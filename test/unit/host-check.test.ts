// On this development machine (and CI's), the host kernel refuses LSM and
// trampoline programs: `check` must say so and exit non-zero, and `load`
// must refuse before attaching anything. Never attaches on the host.
import { describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { resolve } from "node:path";

const ROOT = resolve(import.meta.dir, "../..");
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
