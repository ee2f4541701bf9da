// The committed object and cli/object/header.ts must match bpf/: the build
// check rebuilds both and compares.
import { describe, expect, test } from "bun:test";
import { appendFileSync, cpSync, mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { ROOT } from "../../scripts/project.ts";


function checkout(): string {
  const dir = mkdtempSync(join(tmpdir(), "cgw-embedded-"));
  for (const d of ["bpf", "embedded", "scripts", "cli/object/header.ts"]) cpSync(join(ROOT, d), join(dir, d), { recursive: true });
  symlinkSync(join(ROOT, "node_modules"), join(dir, "node_modules"));
  return dir;
}

const verify = (dir: string) => Bun.spawnSync([process.execPath, "scripts/build.ts", "--verify"], { cwd: dir, stdout: "pipe", stderr: "pipe" });

describe("embedded/ staleness check", () => {
  test("passes for the committed object, from another directory", () => {
    const dir = checkout();
    try {
      const p = verify(dir);
      expect(p.stdout.toString()).toContain("match bpf/ sources");
      expect(p.exitCode).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  /** A checkout changed by `change`, whose verify must fail saying `problem`. */
  function failsAfter(change: (dir: string) => void, ...problem: string[]): void {
    const dir = checkout();
    try {
      change(dir);
      const p = verify(dir);
      expect(p.exitCode).toBe(1);
      for (const text of problem) expect(p.stderr.toString()).toContain(text);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  test("fails when a BPF source changed and the object was not rebuilt", () => {
    failsAfter(
      (dir) => appendFileSync(join(dir, "bpf/cgwarden.bpf.c"), "\nstatic int stale_marker __attribute__((unused));\n"),
      "bpf/ sources changed since embedded/cgwarden.bpf.o was built",
      "fix: run 'bun run build:bpf' and commit embedded/",
    );
  });

  test("fails when cli/object/header.ts was edited by hand", () => {
    failsAfter(
      (dir) => appendFileSync(join(dir, "cli/object/header.ts"), "export const CGW_HAND_MADE = 1;\n"),
      "cli/object/header.ts is not what bpf/cgwarden.h generates",
    );
  });
});
