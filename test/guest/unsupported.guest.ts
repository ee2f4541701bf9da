// A guest booted without the BPF LSM: every command that needs enforcement
// must refuse with the reason and the fix, and leave nothing behind.
import { describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { PIN_DIR, cgw, mkcg } from "./harness.ts";

describe("kernel without the BPF LSM active", () => {
  test("check explains why it cannot enforce, and exits 1", async () => {
    const r = await cgw("check");
    expect(r.code).toBe(1);
    expect(r.out).toContain("BPF LSM not active");
    expect(r.out).toContain("lsm=");
    expect(r.out).toContain("verdict: cannot enforce");
  });

  test("load fails with the fix and pins nothing", async () => {
    const r = await cgw("load");
    expect(r.code).toBe(1);
    expect(r.err).toContain("cannot enforce on this kernel");
    expect(r.err.split("\n").length).toBe(1);
    expect(existsSync(PIN_DIR)).toBe(false);
  });

  test("a policy command fails the same way and changes nothing", async () => {
    mkcg("cgw-unsupported");
    const r = await cgw("lock", "/cgw-unsupported");
    expect(r.code).toBe(1);
    expect(r.err).toContain("cannot enforce on this kernel");
    expect(existsSync(PIN_DIR)).toBe(false);
  });

  test("every other command answers in one line or succeeds, and none loads anything", async () => {
    mkcg("cgw-unsupported");
    const cases: Array<[string[], number, string]> = [
      [["allow", "/cgw-unsupported", "--uid", "0"], 1, "cannot enforce on this kernel"],
      [["delegate", "/cgw-unsupported", "--uid", "0"], 1, "cannot enforce on this kernel"],
      [["unlock", "/cgw-unsupported"], 0, ""],
      [["remove", "1"], 0, ""],
      [["mode", "audit"], 1, "not loaded"],
      [["recording", "all"], 1, "not loaded"],
      [["explain", "--task", "1", "--to", "/cgw-unsupported"], 1, "not loaded"],
      [["rules"], 0, ""],
      [["status"], 0, ""],
      [["unload"], 0, ""],
    ];
    for (const [args, code, text] of cases) {
      const r = await cgw(...args);
      expect({ args, code: r.code }).toEqual({ args, code });
      if (code !== 0) {
        expect(r.err.split("\n").length).toBe(1);
        expect(r.err.startsWith("cgwarden: ")).toBe(true);
        expect(r.err).toContain(text);
      }
      expect(`${r.out}${r.err}`).not.toMatch(/\n\s+at /);
      expect(existsSync(PIN_DIR)).toBe(false);
    }
  });
});
