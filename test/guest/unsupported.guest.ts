// A guest whose kernel cannot run cgwarden: every command that needs
// enforcement must refuse with the reason and the fix, and leave nothing
// behind. Two such boots (test/run.ts, CGWARDEN_TEST_UNSUPPORTED):
//   no-bpf-lsm  the BPF LSM left out of lsm=
//   lockdown    Debian 6.1 under lockdown=confidentiality: no bpf_rdonly_cast,
//               and the probe reads in its place are refused
import { describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { PIN_DIR, cgw, mkcg } from "./harness.ts";

const WHY = process.env.CGWARDEN_TEST_UNSUPPORTED === "lockdown" ? "lockdown" : "no-bpf-lsm";

describe(`kernel that cannot enforce (${WHY})`, () => {
  test("check explains why it cannot enforce, and exits 1", async () => {
    const r = await cgw("check");
    expect(r.code).toBe(1);
    if (WHY === "no-bpf-lsm") {
      expect(r.out).toContain("BPF LSM not active");
      expect(r.out).toContain("lsm=");
    } else {
      expect(r.out).toContain("lockdown=confidentiality");
      // The program and the verifier's line, then what to do.
      expect(r.out).toMatch(/the kernel refuses cgwarden's object: .*; program cgwarden_\w+; verifier: .*probe_read/);
      expect(r.out).toContain("fix: under lockdown=confidentiality cgwarden reads kernel memory through bpf_rdonly_cast()");
    }
    expect(r.out).toContain("verdict: cannot enforce");
    const report = JSON.parse((await cgw("check", "--json")).out);
    expect(report.canEnforce).toBe(false);
    expect(report.fix).toBeTruthy();
  });

  test("load fails with the fix and pins nothing", async () => {
    const r = await cgw("load");
    expect(r.code).toBe(1);
    expect(r.err).toContain("cannot enforce on this kernel");
    if (WHY === "lockdown") expect(r.err).toContain("bpf_rdonly_cast()");
    expect(r.err.trimEnd().split("\n").length).toBe(1);
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
