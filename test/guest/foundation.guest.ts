// The lifecycle: check, load, status and unload against the real kernel, all or nothing, idempotent.
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync } from "node:fs";
import { PINNED_MAPS } from "../../cli/object/maps.ts";
import { EXPECTED_MECHANISM, KERNEL, PIN_DIR, binary, cgw, cleanup, json, ok } from "./harness.ts";

afterAll(cleanup);

// Nothing else in a test guest uses BPF links, so any link listed is ours.
const attachedLinks = (): number =>
  Bun.spawnSync(["bpftool", "link", "show"]).stdout.toString().split("\n").filter((l) => /^\d+: /.test(l)).length;

describe(`foundation on ${KERNEL}`, () => {
  test("check names the mechanism this kernel supports and exits 0", async () => {
    const r = await cgw("check", "--json");
    expect(r.code).toBe(0);
    const report = JSON.parse(r.out);
    expect(report.canEnforce).toBe(true);
    expect(report.mechanism).toBe(EXPECTED_MECHANISM);
    const item = (id: string) => report.items.find((i: { id: string }) => i.id === id);
    expect(item("native-hook").state).toBe(EXPECTED_MECHANISM === "native" ? "ok" : "info");
    expect(item("load").state).toBe("ok");
    expect(item("bpf-lsm").state).toBe("ok");
    expect(existsSync("/sys/kernel/security/lsm")).toBe(true); // check mounted securityfs
  });

  test("check reports the lockdown mode and verifies the object as load will load it", async () => {
    const mode = /\[(\w+)\]/.exec(readFileSync("/sys/kernel/security/lockdown", "utf8"))?.[1];
    const booted = /lockdown=(\w+)/.exec(process.env.CGWARDEN_TEST_BOOT ?? "")?.[1] ?? "none";
    expect(mode).toBe(booted);
    const item = (report: any, id: string) => report.items.find((i: { id: string }) => i.id === id);
    const report = JSON.parse((await cgw("check", "--json")).out);
    expect(item(report, "lockdown").summary).toBe(`lockdown=${mode}`);
    expect(item(report, "load")).toMatchObject({ state: "ok" });
    expect(item(report, "load").summary).toContain(`every program of the ${EXPECTED_MECHANISM} mechanism and the seal verifies on this kernel`);
    // What check verified, load loads: nothing is left loaded by check.
    expect(Bun.spawnSync(["bpftool", "prog", "show"]).stdout.toString()).not.toContain("cgwarden_");
  });

  test("load pins maps and links; status reads them back from the kernel", async () => {
    const r = await json("load");
    expect(r).toMatchObject({ loaded: true, changed: true, mechanism: EXPECTED_MECHANISM });
    expect(readdirSync(`${PIN_DIR}/maps`).sort()).toEqual([...PINNED_MAPS].sort());
    expect(PINNED_MAPS).toContain("executed");
    const s = await json("status");
    expect(s.loaded).toBe(true);
    expect(s.mechanism).toBe(EXPECTED_MECHANISM);
    const targets = s.programs.map((p: { attachedTo: string }) => p.attachedTo);
    if (EXPECTED_MECHANISM === "native") {
      expect(targets).toEqual(["lsm/bprm_committed_creds", "lsm/task_prctl", "tp_btf/cgroup_mkdir", "tp_btf/cgroup_rmdir", "lsm/cgroup_attach"]);
    } else {
      expect(targets).toContain("lsm/inode_permission");
      expect(targets).toContain("fexit/cgroup_procs_write_start");
      expect(targets).toContain("fentry/cgroup_can_fork");
      expect(targets).toContain("fentry/cgroup_attach_permissions");
      expect(targets).toContain("fexit/cgroup_attach_permissions");
      expect(targets).toContain("lsm/bprm_committed_creds");
      expect(targets).toContain("lsm/task_prctl");
      expect(targets).toContain("tp_btf/cgroup_mkdir");
      expect(targets).toContain("tp_btf/cgroup_rmdir");
    }
    for (const p of s.programs) {
      expect(p.progId).toBeGreaterThan(0);
      expect(readdirSync(`${PIN_DIR}/links`)).toContain(p.program);
    }
  });

  test("a second load is a no-op", async () => {
    const before = await json("status");
    const r = await json("load");
    expect(r.changed).toBe(false);
    const after = await json("status");
    expect(after.programs).toEqual(before.programs);
  });

  test("unload detaches and removes every pin; a second unload is a no-op", async () => {
    expect((await json("unload")).changed).toBe(true);
    expect(existsSync(PIN_DIR)).toBe(false);
    expect(attachedLinks()).toBe(0);
    expect((await json("unload")).changed).toBe(false);
    expect((await json("status")).loaded).toBe(false);
  });

  test("the compiled binary loads, and its programs stay attached after it exits", async () => {
    const r = binary("load");
    expect(r.code).toBe(0);
    expect(r.out).toContain(`${EXPECTED_MECHANISM} mechanism`);
    const s = await json("status");
    expect(s.loaded).toBe(true);
    expect(attachedLinks()).toBe(s.programs.length);
    expect(binary("--version").out.trim()).toMatch(/^\d+\.\d+\.\d+$/);
    expect(binary("unload").code).toBe(0);
    expect(attachedLinks()).toBe(0);
  });

  test("load that cannot pin (pin dir off bpffs) fails cleanly and leaves nothing attached", async () => {
    const r = await cgw("load", "--pin-dir", "/tmp/not-bpffs/cgwarden");
    expect(r.code).toBe(1);
    expect(r.err).toContain("pinning");
    expect(attachedLinks()).toBe(0);
    expect(existsSync("/tmp/not-bpffs/cgwarden/links")).toBe(false);
  });

  test("bad input: unknown flags and commands are usage errors", async () => {
    expect((await cgw("load", "--bogus")).code).toBe(2);
    expect((await cgw("frobnicate")).code).toBe(2);
    expect((await cgw("load", "--max-locks", "lots")).code).toBe(2);
  });

  test("damaged pinned state is reported with the fix, and nothing is changed", async () => {
    await ok("load");
    Bun.spawnSync(["rm", `${PIN_DIR}/links/${readdirSync(`${PIN_DIR}/links`)[0]}`]);
    const r = await cgw("status");
    expect(r.code).toBe(1);
    expect(r.err).toContain("damaged");
    expect(r.err).toContain("cgwarden unload");
    expect(readdirSync(`${PIN_DIR}/maps`).length).toBe(PINNED_MAPS.length);
    expect((await cgw("unload")).code).toBe(0);
    expect(existsSync(PIN_DIR)).toBe(false);
  });

  test("a look-alike map pinned in place of a real one is refused before any write", async () => {
    // Same type, key and value sizes as the real locks map: only its id tells it apart.
    mkdirSync("/sys/fs/cgroup/cgw-lookalike", { recursive: true });
    await ok("load");
    const locks = `${PIN_DIR}/maps/locks`;
    Bun.spawnSync(["rm", locks]);
    const made = Bun.spawnSync(["bpftool", "map", "create", locks, "type", "hash", "key", "8", "value", "8", "entries", "64", "name", "locks", "flags", "1"]);
    expect(made.exitCode).toBe(0);
    for (const argv of [["lock", "/cgw-lookalike", "--out"], ["rules"], ["status"]]) {
      const r = await cgw(...argv);
      expect({ argv, code: r.code }).toEqual({ argv, code: 1 });
      expect(r.err).toContain("pinned map locks");
      expect(r.err).toContain("not a map the attached programs use");
      expect(r.err.split("\n").length).toBe(1);
    }
    const dump = Bun.spawnSync(["bpftool", "map", "dump", "pinned", locks]).stdout.toString();
    expect(dump).toContain("Found 0 elements");
    expect((await cgw("unload")).code).toBe(0);
    expect(existsSync(PIN_DIR)).toBe(false);
    rmdirSync("/sys/fs/cgroup/cgw-lookalike");
  });
});
