// The committed object must match bpf/: the build check rebuilds and compares.
import { describe, expect, test } from "bun:test";
import { appendFileSync, cpSync, mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { join, resolve } from "node:path";
import { tmpdir } from "node:os";

const ROOT = resolve(import.meta.dir, "../..");

function checkout(): string {
  const dir = mkdtempSync(join(tmpdir(), "cgw-embedded-"));
  for (const d of ["bpf", "embedded", "scripts"]) cpSync(join(ROOT, d), join(dir, d), { recursive: true });
  symlinkSync(join(ROOT, "node_modules"), join(dir, "node_modules"));
  return dir;
}

const verify = (dir: string) => Bun.spawnSync([process.execPath, "scripts/build.ts", "--verify"], { cwd: dir, stdout: "pipe", stderr: "pipe" });

describe("embedded/ staleness check", () => {
  test("passes for the committed object, from another directory", () => {
    const dir = checkout();
    try {
      const p = verify(dir);
      expect(p.stdout.toString()).toContain("matches bpf/ sources");
      expect(p.exitCode).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("fails when a BPF source changed and the object was not rebuilt", () => {
    const dir = checkout();
    try {
      appendFileSync(join(dir, "bpf/cgwarden.bpf.c"), "\nstatic int stale_marker __attribute__((unused));\n");
      const p = verify(dir);
      expect(p.exitCode).toBe(1);
      expect(p.stderr.toString()).toContain("bpf/ sources changed since embedded/cgwarden.bpf.o was built");
      expect(p.stderr.toString()).toContain("fix: run 'bun run build:bpf' and commit embedded/");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
