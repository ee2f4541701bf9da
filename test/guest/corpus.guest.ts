// Bad input changes nothing: every malformed invocation in
// test/corpus/bad-input.json fails with its exit code and one line, and
// changes nothing. Everything runs in this one process (runCli in-process):
// under emulation a spawn per case would take minutes.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, lstatSync, mkdirSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { MapFd } from "../../cli/libbpf/index.ts";
import { resolveCgroup } from "../../cli/kernel/cgroupfs.ts";
import { PINNED_MAPS } from "../../cli/object/maps.ts";
import { LONG_PATH, SETUPS, expand, judge, loadCorpus, type BadInput, type Placeholders, type Setup } from "../corpus/corpus.ts";
import { CGROOT, KERNEL, PIN_DIR, cgroupId, cgw, cleanup, json, mkcg, ok } from "./harness.ts";

const FIXTURES = "/tmp/cgw-corpus";
const SVC = "cgw/corpus/svc";
const DLG = "cgw/corpus/dlg";
const DOTDOT = "cgw/corpus/..foo";
const MAPS = join(PIN_DIR, "maps");

// Grouped by setup, so each damage is done and repaired once.
const cases = loadCorpus().sort((a, b) => SETUPS.indexOf(a.setup ?? "loaded") - SETUPS.indexOf(b.setup ?? "loaded"));
let values: Placeholders;
const startCwd = process.cwd();

beforeAll(async () => {
  mkcg(SVC, DLG, DOTDOT);
  rmSync(FIXTURES, { recursive: true, force: true });
  mkdirSync(FIXTURES, { recursive: true });
  symlinkSync("/proc", join(FIXTURES, "link-proc"));
  symlinkSync(join(FIXTURES, "nowhere"), join(FIXTURES, "dangling"));
  symlinkSync(join(CGROOT, SVC), join(FIXTURES, "link-svc"));
  writeFileSync(join(FIXTURES, "file"), "not a cgroup\n");
  const dead = Bun.spawn(["true"]);
  await dead.exited;
  values = { FIXTURES, LONG_PATH, DEAD_PID: String(dead.pid) };
  process.chdir(FIXTURES); // relative paths in the corpus start here
  await loadWithPolicy();
});

afterAll(async () => {
  process.chdir(startCwd);
  await repair();
  await cleanup();
  rmSync(FIXTURES, { recursive: true, force: true });
});

/** The fixture policy: a lock, an allow rule with --exe on it, and a delegation. */
async function loadWithPolicy(): Promise<void> {
  await ok("load");
  await ok("lock", `/${SVC}`, "--out");
  await ok("allow", `/${SVC}`, "--exe", "/usr/bin/true");
  await ok("delegate", `/${DLG}`, "--uid", "1000");
}

// ---- setups ----------------------------------------------------------------

let current: Setup = "loaded";
/** The real locks map while its pin is removed or replaced, to pin it back. */
let savedLocks: MapFd | null = null;

async function enter(setup: Setup): Promise<void> {
  if (setup === current) return;
  await repair();
  switch (setup) {
    case "loaded":
      break;
    case "not-loaded":
    case "after-unload":
      await ok("unload");
      break;
    case "stray-file-in-maps":
      // bpffs has no regular files (no create), so the stray non-directory is a symlink.
      try {
        writeFileSync(join(MAPS, "junk"), "x");
      } catch {
        symlinkSync("/nowhere", join(MAPS, "junk"));
      }
      console.log(`stray-file-in-maps: maps/junk is ${lstatSync(join(MAPS, "junk")).isSymbolicLink() ? "a symlink (bpffs refused a regular file)" : "a regular file"}`);
      break;
    case "stray-dir-in-maps":
      mkdirSync(join(MAPS, "junk"));
      break;
    case "missing-map":
    case "wrong-shape-map":
      savedLocks = MapFd.openPinned(join(MAPS, "locks"));
      rmSync(join(MAPS, "locks"));
      if (setup === "wrong-shape-map") bpftool("map", "create", join(MAPS, "locks"), "type", "hash", "key", "4", "value", "4", "entries", "8", "name", "locks");
      break;
  }
  current = setup;
}

/** Back to the loaded fixture policy. */
async function repair(): Promise<void> {
  switch (current) {
    case "loaded":
      return;
    case "not-loaded":
    case "after-unload":
      await loadWithPolicy();
      break;
    case "stray-file-in-maps":
    case "stray-dir-in-maps":
      rmSync(join(MAPS, "junk"), { recursive: true, force: true });
      break;
    case "missing-map":
    case "wrong-shape-map":
      rmSync(join(MAPS, "locks"), { force: true });
      savedLocks!.pin(join(MAPS, "locks"));
      savedLocks!.close();
      savedLocks = null;
      break;
  }
  current = "loaded";
}

function bpftool(...args: string[]): void {
  const p = Bun.spawnSync(["bpftool", ...args], { stdout: "pipe", stderr: "pipe" });
  if (p.exitCode !== 0) throw new Error(`bpftool ${args.join(" ")}: ${p.stderr.toString()}`);
}

// ---- what "changed nothing" compares --------------------------------------

function listing(dir: string, prefix = ""): string[] {
  if (!existsSync(dir)) return [`${prefix || dir} (absent)`];
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const st = lstatSync(join(dir, name));
    out.push(`${prefix}${name}${st.isDirectory() ? "/" : st.isSymbolicLink() ? "@" : ""}`);
    if (st.isDirectory()) out.push(...listing(join(dir, name), `${prefix}${name}/`));
  }
  return out;
}

const possibleCpus = readFileSync("/sys/devices/system/cpu/possible", "utf8")
  .trim()
  .split(",")
  .reduce((n, r) => {
    const [a, b] = r.split("-").map(Number);
    return n + (b === undefined ? 1 : b - a! + 1);
  }, 0);

const u32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
};

/**
 * The entries of every pinned map, in hex; a map that cannot be opened is
 * noted as such. The recorder is an array of thousands of slots: only the
 * slots up to recorder_head are read, and any new record moves the head.
 */
function mapDump(): Record<string, string[] | string> {
  const dump: Record<string, string[] | string> = {};
  const head = withMap("recorder_head", (m) => Number(m.lookup(u32(0), 8)?.readBigUInt64LE(0) ?? 0n)) ?? 0;
  for (const name of PINNED_MAPS) {
    dump[name] =
      withMap(name, (m) => {
        const info = m.info();
        const hex = (k: Buffer, v: Buffer | null) => `${k.toString("hex")}=${v?.toString("hex") ?? "none"}`;
        if (info.keySize === 0) return `type ${info.type}, ${info.maxEntries} bytes, no keys`;
        if (name === "recorder") {
          const slots: string[] = [];
          for (let seq = 1; seq <= head; seq++) slots.push(hex(u32(seq % info.maxEntries), m.lookup(u32(seq % info.maxEntries), info.valueSize)));
          return slots;
        }
        // A per-CPU map's value holds one 8-byte-aligned slot per possible CPU.
        const valueSize = info.type === 6 ? Math.ceil(info.valueSize / 8) * 8 * possibleCpus : info.valueSize;
        try {
          return [...m.entries(info.keySize, valueSize)].map(([k, v]) => hex(k, v)).sort();
        } catch (e) {
          // Task storage and the like cannot be listed; their shape still shows a replaced map.
          return `type ${info.type}, key ${info.keySize}, value ${info.valueSize}, not listable: ${(e as Error).message}`;
        }
      }) ?? "absent";
  }
  return dump;
}

function withMap<T>(name: string, fn: (m: MapFd) => T): T | null {
  const m = MapFd.openPinned(join(MAPS, name));
  if (!m) return null;
  try {
    return fn(m);
  } finally {
    m.close();
  }
}

async function snapshot(): Promise<string> {
  const rules = await cgw("rules", "--json");
  return JSON.stringify({ pins: listing(PIN_DIR), maps: mapDump(), rules }, null, 1);
}

// ---- the corpus --------------------------------------------------------------

describe(`bad-input corpus on ${KERNEL}`, () => {
  let passed = 0;
  afterAll(() => console.log(`corpus: ${cases.length} cases, ${passed} ok`));

  test("has at least 60 cases, each named once, with a known setup", () => {
    expect(cases.length).toBeGreaterThanOrEqual(60);
    expect(new Set(cases.map((c) => c.name)).size).toBe(cases.length);
    for (const c of cases) expect(SETUPS).toContain(c.setup ?? "loaded");
  });

  test("the snapshot sees the fixture policy, so 'unchanged' means something", async () => {
    await enter("loaded");
    const snap = JSON.parse(await snapshot());
    expect(JSON.parse(snap.rules.out).rules).toHaveLength(3);
    expect(snap.maps.locks).toHaveLength(1);
    expect(snap.maps.rules).toHaveLength(3);
    expect(snap.pins).toContain("maps/locks");
  });

  test.each(cases.map((c) => [c.name, c] as [string, BadInput]))("%s", async (_name, c) => {
    await enter(c.setup ?? "loaded");
    const before = await snapshot();
    const r = await cgw(...expand(c.args, values));
    const problems = judge(c, r);
    const after = await snapshot();
    if (after !== before) problems.push(`state changed:\n${before}\n---\n${after}`);
    expect(problems).toEqual([]);
    passed++;
  });
});

// ---- behaviours around the corpus that succeed (exit 0) ------------------------

describe(`paths and not-loaded behaviour on ${KERNEL}`, () => {
  test("a symlink into cgroup2 is the same cgroup through a relative and an absolute path", async () => {
    await enter("loaded");
    const id = cgroupId(SVC);
    expect(resolveCgroup("link-svc").id).toBe(id); // cwd is FIXTURES
    expect(resolveCgroup(join(FIXTURES, "link-svc")).id).toBe(id);
    expect(resolveCgroup(`/${SVC}`).id).toBe(id);
    expect(resolveCgroup(join(CGROOT, SVC)).id).toBe(id);
  });

  test("a cgroup named ..foo is inside the hierarchy", () => {
    const id = cgroupId(DOTDOT);
    expect(resolveCgroup(`/${DOTDOT}`)).toMatchObject({ id, path: `/${DOTDOT}` });
    expect(resolveCgroup(join(CGROOT, DOTDOT))).toMatchObject({ id, path: `/${DOTDOT}` });
    expect(resolveCgroup(`/${SVC}/../..foo`).id).toBe(id);
  });

  test("remove, unlock, mode and recording never load cgwarden", async () => {
    await enter("not-loaded");
    expect(await cgw("remove", "5")).toMatchObject({ code: 0, out: "no rule 5 (cgwarden is not loaded), nothing changed", err: "" });
    expect(await cgw("unlock", `/${SVC}`)).toMatchObject({ code: 0, err: "" });
    expect(JSON.parse((await cgw("remove", "5", "--json")).out)).toEqual({ changed: false, id: 5, loaded: false });
    expect((await cgw("mode", "enforce")).code).toBe(1);
    expect((await cgw("recording", "denials")).code).toBe(1);
    expect(existsSync(PIN_DIR)).toBe(false);
  });
});

describe(`unload of a damaged pin directory on ${KERNEL}`, () => {
  for (const stray of ["directory", "symlink", "nested directory"] as const) {
    test(`removes everything, a stray ${stray} in maps/ or links/ included, and says so`, async () => {
      await enter("loaded");
      if (stray === "directory") mkdirSync(join(MAPS, "junk"));
      if (stray === "symlink") symlinkSync("/nowhere", join(MAPS, "junk"));
      if (stray === "nested directory") mkdirSync(join(PIN_DIR, "links", "junk", "deeper"), { recursive: true });
      const r = await cgw("unload");
      expect(r.code).toBe(0);
      expect(r.err).toBe("");
      expect(r.out).toMatch(/^unloaded cgwarden: detached and removed \d+ pins from \S+; also removed 1 entries cgwarden does not create: (maps|links)\/junk/);
      expect(r.out.split("\n")).toHaveLength(1);
      expect(existsSync(PIN_DIR)).toBe(false);
      expect((await json("unload")).changed).toBe(false);
      current = "not-loaded"; // the next enter() loads the fixture policy again
    });
  }

  test("a stray regular file cannot exist on bpffs (the stray non-directory above is a symlink)", () => {
    mkdirSync(PIN_DIR, { recursive: true });
    expect(() => writeFileSync(join(PIN_DIR, "probe"), "x")).toThrow();
    rmSync(PIN_DIR, { recursive: true });
  });

  test("leaves entries beside maps/ and links/ in place and names them", async () => {
    await enter("loaded");
    mkdirSync(join(PIN_DIR, "someone-elses"));
    const r = await cgw("unload");
    expect(r).toMatchObject({ code: 0, err: "" });
    expect(r.out).toEndWith(`; left 1 entries that are not cgwarden's in ${PIN_DIR}: someone-elses (remove them by hand if nothing needs them)`);
    expect(readdirSync(PIN_DIR)).toEqual(["someone-elses"]);
    expect((await json("status")).loaded).toBe(false);
    rmSync(PIN_DIR, { recursive: true });
    current = "not-loaded";
  });

  test("refuses a --pin-dir that is not on bpffs, removing nothing", async () => {
    const r = await cgw("unload", "--pin-dir", FIXTURES);
    expect(r.code).toBe(1);
    expect(r.err).toStartWith(`cgwarden: ${FIXTURES} is not a directory on bpffs`);
    expect(existsSync(join(FIXTURES, "file"))).toBe(true);
  });

  test("removes what is left when a map pin is missing", async () => {
    await enter("missing-map");
    savedLocks?.close();
    savedLocks = null;
    const r = await cgw("unload");
    expect(r).toMatchObject({ code: 0, err: "" });
    expect(existsSync(PIN_DIR)).toBe(false);
    current = "not-loaded";
    await enter("loaded");
    expect((await json("rules")).rules).toHaveLength(3);
  });
});
