// The seal holds against root: once sealed, root cannot detach, rewrite or unpin the policy;
// only its managers can change it, with the same CLI. Every tamper route is
// tried by root (this test process, or a tool it runs, none a manager), and
// after each the move the lock denies is tried again. One line per route:
//
//   seal: ROUTE: refused (...)            the seal held, and so did the lock
//
// and a closing "seal: N routes, N refused, 0 lifted the lock". The routes on
// an unsealed policy are in the escape suite ("tamper route ...", reported).
//
// The manager is a copy of test/fixtures/intruder.c's `manage` (fork, exec,
// wait), so that "cgwarden run by a manager" is a real child process of it.
// Both it and the cgwarden a manager runs are copies on the guest's tmpfs:
// the seal refuses files on virtiofs, where the project's own dist/ is,
// because no inode generation can be read there (cli/kernel/inode.ts).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, copyFileSync, existsSync, mkdirSync, openSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import { SettingsLayout } from "../../cli/object/abi.ts";
import { openState } from "../../cli/pins/state.ts";
import { nodeOf } from "../../cli/policy/paths.ts";
import { BINARY, KERNEL, LineProcess, PIN_DIR, ROOT, cgroupOf, cgw, cleanup, json, mkcg, ok, place } from "./harness.ts";
import { spawn } from "../../scripts/project.ts";

const MANAGER = "/tmp/seal-manager";
/** cgwarden as the seal's tests run it: a copy on tmpfs (see above). */
const CLI = "/tmp/seal-cgwarden";
/** A tmpfs of its own for a manager the recycled-identity route unmounts. */
const RECYCLE_DIR = "/tmp/seal-recycle";
const RECYCLED = join(RECYCLE_DIR, "manager");
const INTRUDER = "/tmp/seal-intruder";
const ATTACKER = "/tmp/seal-attacker";
const FIXTURES = join(ROOT, "dist/test");
const SVC = { L: "seal/L", La: "seal/L/a", O: "seal/O", M: "seal/M" };
/** The key seal's certificate and key, and another pair root might sign with: made by openssl in beforeAll. */
const KEYS = "/tmp/seal-key";
const CERT = join(KEYS, "seal.pem");
const SIGN = `openssl cms -sign -binary -noattr -outform DER -signer ${CERT} -inkey ${join(KEYS, "seal.key")}`;
const SIGN_OTHER = `openssl cms -sign -binary -noattr -outform DER -signer ${join(KEYS, "other.pem")} -inkey ${join(KEYS, "other.key")}`;
const PROBE = join(ROOT, "test/guest/authorization-probe.ts");
/** root with the key's holder answering for it: --authorize-with. */
const asKeyHolder = (...args: string[]) => run([CLI, ...args, "--authorize-with", SIGN]);

interface Run {
  code: number;
  out: string;
  err: string;
}

function run(argv: string[], input?: string): Run {
  const r = spawn(argv, { input });
  return { code: r.code, out: r.out.trim(), err: r.err.trim() };
}
const firstLine = (r: Run) => (r.err || r.out).split("\n")[0] ?? "";
/** cgwarden run by root: not a manager. */
const asRoot = (...args: string[]) => run([CLI, ...args]);
/** cgwarden run as a manager's child. */
const asManager = (...args: string[]) => run([MANAGER, "manage", CLI, ...args]);
/** cgwarden run by a manager's child through env(1), with these variables: a manager's exec chain. */
const asManagerWith = (vars: string[], ...args: string[]) => run([MANAGER, "manage", "/usr/bin/env", ...vars, CLI, ...args]);

let task: ReturnType<typeof Bun.spawn>;
let holder: LineProcess;

/** The move the lock denies: the task out of seal/L. True when it stayed. */
function lockHolds(): boolean {
  try {
    place(task.pid, SVC.O);
  } catch {
    // EPERM, as it should be
  }
  const stayed = cgroupOf(task.pid) === `/${SVC.La}`;
  if (!stayed) place(task.pid, SVC.La); // put it back for the next route, if the route's own check passes
  return stayed;
}

function liveEpoch(): number {
  const s = openState(PIN_DIR)!;
  try {
    return s.settings().epoch & 1;
  } finally {
    s.close();
  }
}

function mapId(name: "locks" | "settings"): number {
  const s = openState(PIN_DIR)!;
  try {
    return s.maps[name].info().id;
  } finally {
    s.close();
  }
}

function leHex(n: bigint, bytes = 8): string[] {
  return Array.from({ length: bytes }, (_, i) => ((n >> (8n * BigInt(i))) & 0xffn).toString(16).padStart(2, "0"));
}

const ftraceEnabled = () => readFileSync("/proc/sys/kernel/ftrace_enabled", "utf8").trim() === "1";
/** Opened by root before the seal, written after it. */
let ftraceFd = -1;

async function programId(): Promise<number> {
  const programs: Array<{ program: string }> = (await json("status")).programs;
  const r = run(["bpftool", "prog", "show", "name", programs[0]!.program, "--json"]);
  return (JSON.parse(r.out) as { id: number }).id;
}

async function linkId(): Promise<number> {
  return ((await json("status")).programs as Array<{ linkId: number }>)[0]!.linkId;
}

/**
 * The red team's orphan: a subshell starts `setsid sh`, which sleeps, then
 * execs cgwarden unload; the subshell exits at once, so PID 1 (or the
 * nearest subreaper) adopts the sleeper before its exec. Waits for it.
 */
async function orphanRoute(prefix: string[]): Promise<Run> {
  rmSync("/tmp/orphan.err", { force: true });
  const r = run([...prefix, `(setsid sh -c 'sleep 1; exec ${CLI} unload 2>/tmp/orphan.err' &)`]);
  // Up to 10 s for the orphan's cgwarden to write its one line.
  for (let i = 0; i < 100; i++) {
    await Bun.sleep(100);
    if (existsSync("/tmp/orphan.err") && readFileSync("/tmp/orphan.err", "utf8").includes("\n")) break;
  }
  await Bun.sleep(300);
  const err = existsSync("/tmp/orphan.err") ? readFileSync("/tmp/orphan.err", "utf8").trim() : "";
  return { code: err ? 1 : r.code, out: "", err: err || "no output from the orphan's cgwarden" };
}
const orphanRefused = (r: Run) => /is sealed/.test(r.err);

/**
 * The red team's recycled identity: a manager executable on a tmpfs of its
 * own is made a manager (and acts as one); the tmpfs is unmounted, a new one
 * mounted at the same place, and the same file created again, which puts it
 * at the same (dev, ino). It must not act. The pass's seal is put back after.
 */
function recycledRoute(sealArgs: string[]): Run {
  const mountFresh = () => run(["mount", "-t", "tmpfs", "-o", "mode=0755,size=16m", "seal-recycle", RECYCLE_DIR]);
  const create = () => {
    copyFileSync(join(FIXTURES, "intruder"), RECYCLED);
    chmodSync(RECYCLED, 0o755);
    return statSync(RECYCLED, { bigint: true });
  };
  mkdirSync(RECYCLE_DIR, { recursive: true });
  mountFresh();
  const first = create();
  const sealed = asManager("seal", ...sealArgs, "--manager-exe", RECYCLED).code === 0;
  const acted = run([RECYCLED, "manage", CLI, "lock", `/${SVC.M}`, "--out"]).code === 0 && run([RECYCLED, "manage", CLI, "unlock", `/${SVC.M}`]).code === 0;
  run(["umount", RECYCLE_DIR]);
  mountFresh();
  const second = create();
  const same = first.dev === second.dev && first.ino === second.ino;
  const r = run([RECYCLED, "manage", CLI, "unload"]);
  const restored = asManager("seal", ...sealArgs).code === 0;
  run(["umount", RECYCLE_DIR]);
  const facts = `sealed with it: ${sealed}, it acted: ${acted}, same (dev, ino) after the remount: ${same}, seal restored: ${restored}`;
  return { code: r.code, out: facts, err: `${r.err.split("\n")[0]} [${facts}]` };
}
const recycledRefused = (r: Run) => r.code === 1 && /is sealed/.test(r.err) && r.out === "sealed with it: true, it acted: true, same (dev, ino) after the remount: true, seal restored: true";

/** A manager's child, traced by root before it execs `cgwarden unload` (its pid found under the manager). */
async function tracedRoute(holdMs: number): Promise<Run> {
  const manager = Bun.spawn([MANAGER, "manage", "/bin/sh", "-c", `sleep 1; exec ${CLI} unload`], { stdout: "pipe", stderr: "pipe" });
  let child = 0;
  for (let i = 0; i < 50 && !child; i++) {
    await Bun.sleep(20);
    const list = existsSync(`/proc/${manager.pid}/task/${manager.pid}/children`) ? readFileSync(`/proc/${manager.pid}/task/${manager.pid}/children`, "utf8").trim() : "";
    child = Number(list.split(" ")[0] || 0);
  }
  const seize = run([INTRUDER, "seize", String(child), String(holdMs)]);
  const code = await manager.exited;
  const err = (await new Response(manager.stderr).text()).trim();
  return { code, out: seize.out, err: err || `exit ${code}; ${seize.out}` };
}

const pins = () => ["maps", "links", "progs"].flatMap((d) => (existsSync(join(PIN_DIR, d)) ? readdirSync(join(PIN_DIR, d)).map((e) => `${d}/${e}`) : []));

/** The one-line refusal of a sealed policy, exit 1. */
const sealedLine = (r: Run) => r.code === 1 && /is sealed/.test(r.err) && !/\n/.test(r.err);

let routes = 0;
let lifted = 0;
/** The routes of one pass, and how many held (refused, lock in force, pins intact). */
const tally = { routes: 0, held: 0 };

/** One tamper route: it must fail, leave every pin, and leave the lock in force. */
function tamperRoute(name: string, act: () => Run | Promise<Run>, expectRefusal: (r: Run) => boolean = (r) => r.code !== 0) {
  test(`seal: ${name}`, async () => {
    const before = pins();
    const r = await act();
    const refused = expectRefusal(r);
    const holds = lockHolds();
    const intact = JSON.stringify(pins()) === JSON.stringify(before);
    routes++;
    tally.routes++;
    if (refused && holds && intact) tally.held++;
    if (!holds) lifted++;
    console.log(`seal: ${name}: ${refused && holds && intact ? "refused" : "NOT REFUSED"} (${firstLine(r) || `exit ${r.code}`}; lock ${holds ? "held" : "LIFTED"}${intact ? "" : "; pins changed"})`);
    expect({ refused, holds, intact }).toEqual({ refused: true, holds: true, intact: true });
  });
}

/** Every tamper route, by root (this test process, or a tool it runs, none a manager). `sealArgs`: the pass's seal. */
function everyRoute(pass: string, sealArgs: string[]): void {
  const route = (name: string, act: () => Run | Promise<Run>, expectRefusal?: (r: Run) => boolean) => tamperRoute(`${name} (${pass})`, act, expectRefusal);
  const sealed = sealedLine;
  route("cgwarden unload", () => asRoot("unload"), sealed);
  route("cgwarden unlock", () => asRoot("unlock", `/${SVC.L}`), sealed);
  route("cgwarden apply of an empty policy", () => asRoot("apply", "-"), (r) => sealed(r));
  route("cgwarden unseal", () => asRoot("unseal"), sealed);
  route("cgwarden mode audit", () => asRoot("mode", "audit"), sealed);
  route("bpftool map update by pinned path", () =>
    run(["bpftool", "map", "update", "pinned", join(PIN_DIR, "maps/locks"), "key", "hex", ...leHex(nodeOf(`/${SVC.L}`, liveEpoch())), "value", "hex", ...leHex(0n)]),
  );
  route("bpftool map delete by pinned path", () =>
    run(["bpftool", "map", "delete", "pinned", join(PIN_DIR, "maps/locks"), "key", "hex", ...leHex(nodeOf(`/${SVC.L}`, liveEpoch()))]),
  );
  route("bpftool map delete by id", () => run(["bpftool", "map", "delete", "id", String(mapId("locks")), "key", "hex", ...leHex(nodeOf(`/${SVC.L}`, liveEpoch()))]));
  route("bpftool map update of settings by id (audit mode for everything)", () =>
    run(["bpftool", "map", "update", "id", String(mapId("settings")), "key", "hex", "00", "00", "00", "00", "value", "hex", ...Array(144).fill("00")]),
  );
  route("delete through a writable fd opened before the seal", async () => {
    const line = await holder.request(`delete ${leHex(nodeOf(`/${SVC.L}`, liveEpoch())).join("")}`);
    return { code: line.startsWith("ok") ? 0 : 1, out: line, err: "" };
  });
  route("a new program using a sealed map through a read-only fd", () => run([INTRUDER, "prog-with-map", join(PIN_DIR, "maps/settings")]), (r) => r.out.startsWith("err 1 "));
  route("a map-in-map around the bound map", () =>
    run(["bpftool", "map", "create", "/sys/fs/bpf/seal-outer", "type", "hash_of_maps", "key", "8", "value", "4", "entries", "1", "name", "outer", "inner_map", "pinned", join(PIN_DIR, "maps/bound")]),
  );
  route("bpftool link detach of every cgwarden link", async () => {
    const programs: Array<{ linkId: number }> = (await json("status")).programs;
    const results = programs.map((p) => run(["bpftool", "link", "detach", "id", String(p.linkId)]));
    const ok = results.filter((r) => r.code === 0).length;
    return { code: ok ? 0 : 1, out: `${results.length - ok} of ${results.length} detaches refused: ${firstLine(results[0]!)}`, err: "" };
  });
  route("rm -r of the pin directory", () => run(["rm", "-r", PIN_DIR]));
  route("rm of one link's pin", () => run(["rm", join(PIN_DIR, "links/cgwarden_exec")]));
  route("mv of the pin directory", () => run(["mv", PIN_DIR, "/sys/fs/bpf/elsewhere"]));
  route("mv of a map pin out", () => run(["mv", join(PIN_DIR, "maps/locks"), "/sys/fs/bpf/locks"]));
  route("mv of a look-alike over a map pin", () => {
    mkdirSync("/sys/fs/bpf/seal-decoy", { recursive: true });
    return run(["mv", "-T", "/sys/fs/bpf/seal-decoy", join(PIN_DIR, "maps")]);
  });
  route("umount of the bpffs", () => run(["umount", "/sys/fs/bpf"]));
  route("umount -l of the bpffs", () => run(["umount", "-l", "/sys/fs/bpf"]));
  route("a forged exe: root's process with /proc/self/exe pointing at the manager", () => run([ATTACKER, "forge-exe-bpf", MANAGER, join(PIN_DIR, "maps/locks")]), (r) => /^err 1 .*forged=yes/.test(r.out));

  // The outside red team's routes.
  route("a map-element iterator writes maps/locks through a read-only fd", () => run([INTRUDER, "iter-write", join(PIN_DIR, "maps/locks"), join(FIXTURES, "intruder-iter.bpf.o")]), (r) => r.out.startsWith("err 1 "));
  route("a map-element iterator writes maps/seal through a read-only fd", () => run([INTRUDER, "iter-write", join(PIN_DIR, "maps/seal"), join(FIXTURES, "intruder-iter.bpf.o")]), (r) => r.out.startsWith("err 1 "));
  route("sysctl kernel.ftrace_enabled=0 (every BPF trampoline off)", () => run(["sh", "-c", "echo 0 > /proc/sys/kernel/ftrace_enabled"]), (r) => r.code !== 0 && ftraceEnabled());
  route("kernel.ftrace_enabled=0 through an fd opened before the seal", () => {
    try {
      writeSync(ftraceFd, "0\n", 0);
      return { code: 0, out: "written", err: "" };
    } catch (e) {
      return { code: 1, out: "", err: String((e as Error).message) };
    }
  }, (r) => r.code !== 0 && ftraceEnabled());
  route("an orphan PID 1 adopts execs cgwarden unload (--manager-pid 1)", () => orphanRoute(["sh", "-c"]), orphanRefused);
  route("an orphan a manager (subreaper) adopts execs cgwarden unload", () => orphanRoute([MANAGER, "reap", "/bin/sh", "-c"]), orphanRefused);
  route("ptrace of a manager's child before it execs cgwarden unload, held through the exec", () => tracedRoute(3000), (r) => sealed(r));
  route("ptrace of a manager's child, detached before it execs cgwarden unload", () => tracedRoute(200), (r) => sealed(r));
  route("BPF_OBJ_PIN of a read-only fd to maps/locks (a second pin)", () => run([INTRUDER, "pin", join(PIN_DIR, "maps/locks"), "/sys/fs/bpf/seal-copy"]), (r) => r.out.startsWith("err 1 ") && !existsSync("/sys/fs/bpf/seal-copy"));
  route("BPF_MAP_FREEZE of maps/locks through a read-only fd", () => run([INTRUDER, "freeze", join(PIN_DIR, "maps/locks")]), (r) => r.out.startsWith("err 1 "));
  route("BPF_PROG_BIND_MAP of maps/locks to a new program", () => run([INTRUDER, "bind-map", join(PIN_DIR, "maps/locks")]), (r) => r.out.startsWith("err 1 "));
  route("BPF_PROG_TEST_RUN of a cgwarden program", async () => run([INTRUDER, "test-run", String(await programId())]), (r) => r.out.startsWith("err 1 "));
  route("BPF_LINK_UPDATE of a cgwarden link", async () => run([INTRUDER, "link-update", String(await linkId())]), (r) => r.out.startsWith("err 1 "));
  route("a bpf(2) command the seal does not know (200)", () => run([INTRUDER, "bpf-cmd", "200"]), (r) => r.out.startsWith("err 1 "));
  // A manager's cgwarden, started with loader or Bun runtime overrides: not a manager.
  writeFileSync("/tmp/seal-preload.js", 'console.error("preload ran");\n');
  // ld.so's warning, or the preload's line, comes first on stderr: the refusal is the last line.
  const refusedAfterOverride = (r: Run) => r.code === 1 && /is sealed/.test(r.err.split("\n").at(-1) ?? "");
  route("a manager's cgwarden with LD_PRELOAD", () => asManagerWith(["LD_PRELOAD=/tmp/seal-none.so"], "unload"), refusedAfterOverride);
  route("a manager's cgwarden with LD_LIBRARY_PATH (a planted libbpf.so.1)", () => asManagerWith(["LD_LIBRARY_PATH=/tmp"], "unload"), (r) => sealed(r));
  route("a manager's cgwarden with BUN_OPTIONS=--preload", () => asManagerWith(["BUN_OPTIONS=--preload /tmp/seal-preload.js"], "unload"), refusedAfterOverride);
  route("a manager's cgwarden with GCONV_PATH (glibc's secure-execution list)", () => asManagerWith(["GCONV_PATH=/tmp"], "unload"), refusedAfterOverride);
  route("a manager's cgwarden with MIMALLOC_VERBOSE (the runtime's allocator)", () => asManagerWith(["MIMALLOC_VERBOSE=1"], "unload"), refusedAfterOverride);
  route("a manager's cgwarden with BUN_BE_BUN=1 running cgwarden's own source", () => asManagerWith(["BUN_BE_BUN=1"], join(ROOT, "cli/main.ts"), "unload"), (r) => sealed(r));
  // A key seal names no executable: nothing to recycle.
  if (!sealArgs.includes("--key"))
    route("a manager's executable recycled: a new file at its (dev, ino) on a remounted tmpfs", () => recycledRoute(sealArgs), recycledRefused);
  route("a copy of the manager's executable", () => {
    copyFileSync(MANAGER, "/tmp/seal-manager-copy");
    chmodSync("/tmp/seal-manager-copy", 0o755);
    return run(["/tmp/seal-manager-copy", "manage", CLI, "unload"]);
  }, (r) => sealed(r));
  route("bpftool map pin of maps/settings elsewhere", () => run(["bpftool", "map", "pin", "pinned", join(PIN_DIR, "maps/settings"), "/sys/fs/bpf/seal-copy2"]), (r) => r.code !== 0 && !existsSync("/sys/fs/bpf/seal-copy2"));
}

/** Two processes of the probe wait with their challenges; the key signs the first; both present that signature. */
async function racedRoute(): Promise<Run> {
  const files = [join(KEYS, "race1"), join(KEYS, "race2")];
  for (const f of files) rmSync(f, { force: true }), rmSync(`${f}.sig`, { force: true });
  const probes = files.map((f) => Bun.spawn([process.execPath, PROBE, "challenge", f], { stdout: "pipe", stderr: "pipe" }));
  for (let i = 0; i < 300 && !files.every((f) => existsSync(f)); i++) await Bun.sleep(50);
  const sig = Bun.spawnSync(["sh", "-c", SIGN], { stdin: readFileSync(files[0]!) }).stdout;
  for (const f of files) writeFileSync(`${f}.tmp`, sig);
  for (const f of files) Bun.spawnSync(["mv", `${f}.tmp`, `${f}.sig`]);
  const outs = await Promise.all(probes.map(async (p) => (await new Response(p.stdout).text()).trim() || (await new Response(p.stderr).text()).trim()));
  return { code: outs[1] === "ok" ? 0 : 1, out: outs.join(" | "), err: `the signed one: ${outs[0]}; the other: ${outs[1]}` };
}

/** The key seal's own routes: root without the private key, with everything else. */
function keyRoutes(): void {
  const route = (name: string, act: () => Run | Promise<Run>, expectRefusal?: (r: Run) => boolean) => tamperRoute(`${name} (with --key)`, act, expectRefusal);
  const rejected = (r: Run) => r.code === 1 && /does not verify against the seal's key/.test(r.err);
  route("cgwarden unload with no authorization", () => asRoot("unload"), (r) => sealedLine(r) && /sealed with a key/.test(r.err));
  route("an authorization signed by another key", () => asRoot("unload", "--authorize-with", SIGN_OTHER), rejected);
  route("a replayed authorization (a signature an earlier authorized process used)", () => {
    const first = asRoot("lock", `/${SVC.M}`, "--out", "--authorize-with", `${SIGN} | tee ${join(KEYS, "used.der")}`);
    const r = asRoot("unload", "--authorize-with", `cat ${join(KEYS, "used.der")}`);
    return { ...r, err: `${r.err} [the first, authorized: exit ${first.code}]` };
  }, (r) => rejected(r) && r.err.endsWith("[the first, authorized: exit 0]"));
  route("a signature of this challenge made out for another pid (1)", () => {
    writeFileSync(join(KEYS, "other-pid.js"), "const b = Buffer.from(await Bun.stdin.bytes()); b.writeUInt32LE(1, 32); process.stdout.write(b);\n");
    return asRoot("unload", "--authorize-with", `${process.execPath} ${join(KEYS, "other-pid.js")} | ${SIGN}`);
  }, rejected);
  route("two processes racing one authorization", () => racedRoute(), (r) => r.out === "ok | err 129");
  route("one challenge presented twice", () => run([process.execPath, PROBE, "twice", CERT, join(KEYS, "seal.key")]), (r) => r.out === "ok err 126");
  route("a certificate of root's own added to the seal's keyring", () => {
    const ring = parseInt(run(["sh", "-c", "grep 'cgwarden:seal' /proc/keys | head -1 | cut -d' ' -f1"]).out, 16);
    const der = run(["sh", "-c", `openssl x509 -in ${join(KEYS, "other.pem")} -outform DER > ${join(KEYS, "other.der")}`]);
    const added = run([process.execPath, "-e", `const { addKey } = await import("${join(ROOT, "cli/libbpf/index.ts")}"); try { addKey("asymmetric", "", require("node:fs").readFileSync("${join(KEYS, "other.der")}"), ${ring}); console.log("added"); } catch (e) { console.log(e.message); }`]);
    // The keyring's line in /proc/keys ends with how many keys it holds.
    const holds = run(["sh", "-c", "grep 'cgwarden:seal' /proc/keys | head -1"]).out.split(": ").at(-1);
    return { code: added.out === "added" || der.code !== 0 ? 0 : 1, out: holds ?? "", err: `keyring ${ring}: ${added.out}; it holds ${holds} key(s)` };
  }, (r) => r.code === 1 && r.out === "1");
  route("a manager's cgwarden (the seal names no managers)", () => asManager("unload"), (r) => sealedLine(r) && /sealed with a key/.test(r.err));
}

beforeAll(async () => {
  copyFileSync(BINARY, CLI);
  chmodSync(CLI, 0o755);
  copyFileSync(join(FIXTURES, "intruder"), MANAGER);
  copyFileSync(join(FIXTURES, "intruder"), INTRUDER);
  copyFileSync(join(FIXTURES, "attacker"), ATTACKER);
  for (const f of [MANAGER, INTRUDER, ATTACKER]) Bun.spawnSync(["chmod", "755", f]);
  await cgw("unload");
  mkcg(SVC.La, SVC.O, SVC.M);
  task = Bun.spawn(["sleep", "3600"]);
  place(task.pid, SVC.La);
  await ok("load");
  await ok("lock", `/${SVC.L}`, "--out");
  expect(lockHolds()).toBe(true);
  // A writable fd opened before the seal, kept by a process that is no manager.
  holder = new LineProcess(Bun.spawn([INTRUDER, "hold-write", join(PIN_DIR, "maps/locks")], { stdin: "pipe", stdout: "pipe" }));
  expect(await holder.line()).toBe("ok ready");
  ftraceFd = openSync("/proc/sys/kernel/ftrace_enabled", "w");
  mkdirSync(KEYS, { recursive: true });
  for (const [name, cn] of [["seal", "cgwarden-seal-test"], ["other", "not-the-seal"]])
    expect(run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", join(KEYS, `${name}.key`), "-out", join(KEYS, `${name}.pem`), "-days", "2", "-subj", `/CN=${cn}`]).code).toBe(0);
});

afterAll(async () => {
  asManager("unseal");
  holder?.proc.kill(9);
  task?.kill(9);
  await cleanup();
});

describe(`seal on ${KERNEL}`, () => {
  test("check reports the hooks the seal needs", async () => {
    const r = await json("check");
    expect(r.items.find((i: { id: string }) => i.id === "seal-hooks")?.state).toBe("ok");
    // The project (this test's Bun, dist/) is on virtiofs in the guests: check says a seal with managers needs another copy.
    const binary: { state: string; summary: string } = r.items.find((i: { id: string }) => i.id === "seal-binary");
    const copy: { state: string; summary: string } = JSON.parse(asRoot("check", "--json").out).items.find((i: { id: string }) => i.id === "seal-binary");
    console.log(`seal: check on virtiofs: ${binary.state} ${binary.summary}; on tmpfs: ${copy.state} ${copy.summary}`);
    expect(binary.state).toBe("warn");
    expect(binary.summary).toContain(" is on virtiofs, whose inodes carry no generation");
    expect(copy.state).toBe("ok");
    expect(copy.summary).toContain(`${CLI}, on tmpfs`);
  });

  test("seal --manager-exe: sealed, status names the manager, and sealing again changes nothing", async () => {
    const r = asRoot("seal", "--manager-exe", MANAGER, "--json");
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out)).toMatchObject({ changed: true, seal: { sealed: true, lockBpf: false, managers: [{ exe: MANAGER, pid: null }] } });
    const status = await json("status");
    expect(status.seal).toMatchObject({ sealed: true, managers: [{ exe: MANAGER }] });
    expect(status.programs.map((p: { program: string }) => p.program)).toContain("cgwarden_seal_bpf_map");
    const again = asRoot("seal", "--manager-exe", MANAGER, "--json"); // a provisioning script's second run
    expect(again.code).toBe(0);
    expect(JSON.parse(again.out).changed).toBe(false);
    expect(sealedLine(asRoot("seal", "--manager-exe", MANAGER, "--lock-bpf"))).toBe(true); // a change needs a manager
    expect(lockHolds()).toBe(true);
  });

  test("files on virtiofs are refused as a manager and as cgwarden's own binary, the filesystem named", () => {
    // virtiofs gives no inode generation: after a remount another file could pass for either.
    const exe = asManager("seal", "--manager-exe", join(FIXTURES, "intruder"));
    console.log(`seal: a manager on virtiofs: ${firstLine(exe)}`);
    expect(exe.code).toBe(1);
    expect(firstLine(exe)).toStartWith(`cgwarden: --manager-exe ${join(FIXTURES, "intruder")} is on virtiofs, whose inodes carry no generation cgwarden can read`);
    const own = run([MANAGER, "manage", BINARY, "seal", "--manager-exe", MANAGER, "--lock-bpf"]);
    console.log(`seal: cgwarden itself on virtiofs: ${firstLine(own)}`);
    expect(own.code).toBe(1);
    expect(firstLine(own)).toStartWith(`cgwarden: the cgwarden binary ${BINARY} is on virtiofs`);
    expect(JSON.parse(asRoot("status", "--json").out).seal).toMatchObject({ sealed: true, lockBpf: false, managers: [{ exe: MANAGER }] });
  });

  test("bad seals are refused and change nothing", () => {
    expect(asManager("seal").code).toBe(2);
    expect(asManager("seal", "--until-reboot", "--manager-exe", MANAGER).code).toBe(2);
    expect(firstLine(asManager("seal", "--manager-exe", "/nonexistent"))).toContain("does not exist");
    expect(firstLine(asManager("seal", "--manager-pid", "999999"))).toContain("does not exist");
  });

  test("PID 1 (the guest's init) becomes a second manager, as `--manager-pid 1` makes systemd one", () => {
    expect(asManager("seal", "--manager-exe", MANAGER, "--manager-pid", "1").code).toBe(0);
    expect(JSON.parse(asRoot("status", "--json").out).seal.managers.map((m: { pid: number | null }) => m.pid)).toEqual([null, 1]);
  });

  // ---- every route, by root: without --lock-bpf, then with it ----------------------

  const managed = ["--manager-exe", MANAGER, "--manager-pid", "1"];
  for (const [pass, sealArgs] of [
    ["without --lock-bpf", managed],
    ["with --lock-bpf", [...managed, "--lock-bpf"]],
    ["with --key", ["--key", CERT]],
  ] as const) {
    if (sealArgs !== managed)
      test(`reseal ${pass} for the next pass`, () => {
        expect(asManager("seal", ...sealArgs).code).toBe(0);
        tally.routes = tally.held = 0;
      });
    everyRoute(pass, [...sealArgs]);
    if (sealArgs.includes("--key")) keyRoutes();
    test(`seal: routes ${pass} on ${KERNEL}`, () => {
      console.log(`seal: routes: ${tally.routes}, held ${tally.held}, lifted ${tally.routes - tally.held} (${pass})`);
      expect(tally.held).toBe(tally.routes);
    });
  }

  test("a key seal: status names the key; the key's holder changes the policy, by command or by hand; then it seals with managers again", async () => {
    const status = JSON.parse(asRoot("status", "--json").out).seal;
    expect(status).toMatchObject({ sealed: true, managers: [], key: { subject: "CN=cgwarden-seal-test" } });
    expect(JSON.parse(asRoot("seal", "--key", CERT, "--json").out).changed).toBe(false); // the same seal again: nothing to authorize
    // In a policy file: export names the certificate, and applying the export changes nothing, so root may.
    const exported = asRoot("export").out;
    expect(exported).toContain(`key = "${CERT}"`);
    writeFileSync("/tmp/seal-key-policy.toml", exported);
    expect(JSON.parse(asRoot("apply", "/tmp/seal-key-policy.toml", "--json").out).changed).toBe(false);
    expect(sealedLine(asRoot("unlock", `/${SVC.L}`))).toBe(true);
    expect(asKeyHolder("lock", `/${SVC.M}`, "--out").code).toBe(0);
    expect(asRoot("rules").out).toContain(`/${SVC.M}`);
    // By hand: the challenge on stderr, the signature (PEM) on stdin.
    const p = Bun.spawn([CLI, "unlock", `/${SVC.M}`, "--authorization", "-"], { stdin: "pipe", stdout: "pipe", stderr: "pipe" });
    const reader = p.stderr.getReader();
    let shown = "";
    while (!/\n[A-Za-z0-9+/=]{40,}\n/.test(shown)) {
      const { value, done } = await reader.read();
      if (done) break;
      shown += new TextDecoder().decode(value);
    }
    const challenge = Buffer.from(/\n([A-Za-z0-9+/=]{40,})\n/.exec(shown)![1]!, "base64");
    const pem = Bun.spawnSync(["sh", "-c", SIGN.replace("-outform DER", "-outform PEM")], { stdin: challenge }).stdout;
    p.stdin.write(pem);
    p.stdin.end();
    expect(await p.exited).toBe(0);
    console.log(`seal: by hand: challenge of ${challenge.length} bytes shown, PEM signature of ${pem.length} bytes given on stdin`);
    expect(asRoot("rules").out).not.toContain(`/${SVC.M}`);
    const audit = await ok("audit", "--verdict", "all");
    expect(audit).toMatch(/authorization: an authorization for the key seal: its signature does not verify/);
    expect(lockHolds()).toBe(true);
    // Changing a key seal takes an authorization too: back to the managers the next tests expect.
    expect(sealedLine(asRoot("seal", ...managed))).toBe(true);
    expect(asKeyHolder("seal", ...managed).code).toBe(0);
    expect(JSON.parse(asRoot("status", "--json").out).seal.key).toBe(null);
    expect(run(["grep", "-c", "cgwarden:seal", "/proc/keys"]).out).toBe("0"); // the replaced key's keyring is dropped
  });

  test("a manager's process: no fd of it can be taken, nor its memory written", () => {
    // A long-lived manager: intruder's manage, waiting for its sleeping child.
    const manager = Bun.spawn([MANAGER, "manage", "/bin/sleep", "60"]);
    try {
      Bun.sleepSync(200);
      const getfd = run([INTRUDER, "getfd", String(manager.pid), "0"]);
      const mem = run([INTRUDER, "mem", String(manager.pid)]);
      console.log(`seal: pidfd_getfd of a manager: ${getfd.out}; /proc/PID/mem of a manager: ${mem.out}`);
      expect(getfd.out).toStartWith("err 1 ");
      expect(mem.out).toMatch(/^err (1|13) /); // mm_access() reports the refusal as EACCES
      // Not a manager: its own child, which runs sleep, is an ordinary process.
      const child = Number(readFileSync(`/proc/${manager.pid}/task/${manager.pid}/children`, "utf8").trim().split(" ")[0]);
      expect(run([INTRUDER, "mem", String(child)]).out).toStartWith("ok ");
    } finally {
      manager.kill(9);
    }
    expect(lockHolds()).toBe(true);
  });

  test(`seal: every route refused and recorded on ${KERNEL}`, async () => {
    console.log(`seal: ${routes} routes, ${routes - lifted} held the lock, ${lifted} lifted it`);
    expect(lifted).toBe(0);
    const records: Array<{ via: string; tamper: { kind: string } | null; actor: { comm: string } }> = [];
    for (const line of (await ok("audit", "--json")).trim().split("\n")) if (line) records.push(JSON.parse(line));
    const tampers = records.filter((r) => r.via === "tamper");
    const kinds = [...new Set(tampers.map((r) => r.tamper!.kind))].sort();
    console.log(`seal: ${tampers.length} tamper records, kinds ${kinds.join(", ")}`);
    for (const k of ["map-open", "map-write", "prog-uses", "unlink", "rename", "umount", "ptrace", "bpf-command", "knob"]) expect(kinds).toContain(k);
    expect(tampers.some((r) => r.actor.comm === "bpftool")).toBe(true);
    const text = await ok("audit");
    expect(text).toMatch(/tamper +bpftool\[\d+\] uid 0 .*map-open: an fd to maps\/locks/);
  });

  // ---- what still works --------------------------------------------------------------

  test("root still reads: status, rules, export, audit", async () => {
    expect((await cgw("status")).code).toBe(0);
    const rules = await ok("rules");
    expect(rules).toContain(`/${SVC.L}`);
    expect(rules).toContain("bound");
    const exported = await ok("export");
    expect(exported).toContain("[seal]");
    expect(exported).toContain(MANAGER);
    // Re-applying what is in force writes nothing, so it succeeds for anyone.
    writeFileSync("/tmp/seal-policy.toml", exported);
    const again = asRoot("apply", "/tmp/seal-policy.toml", "--json");
    expect(again.code).toBe(0);
    expect(JSON.parse(again.out).changed).toBe(false);
  });

  test("a manager changes the sealed policy with the same CLI", () => {
    // Through env(1) with an ordinary variable: the exec chain and the environment check let it through.
    expect(asManagerWith(["CGW_ORDINARY=1"], "lock", `/${SVC.M}`, "--out").code).toBe(0);
    expect(asManager("unlock", `/${SVC.M}`).code).toBe(0);
    expect(asManager("lock", `/${SVC.M}`, "--out").code).toBe(0);
    expect(asRoot("rules").out).toContain(`/${SVC.M}`);
    expect(asManager("unlock", `/${SVC.M}`).code).toBe(0);
    expect(asRoot("rules").out).not.toContain(`/${SVC.M}`);
    expect(lockHolds()).toBe(true);
  });

  test("--lock-bpf: root loads no fentry, fmod_ret or LSM program; a manager still loads cgwarden's", () => {
    expect(asManager("seal", "--manager-exe", MANAGER, "--lock-bpf").code).toBe(0);
    for (const kind of ["fentry", "fmod_ret", "lsm"]) {
      const r = run(["bpftool", "prog", "load", join(FIXTURES, `intruder-${kind}.bpf.o`), `/sys/fs/bpf/seal-intruder-${kind}`]);
      console.log(`seal: --lock-bpf: root loading a ${kind} program: ${r.code === 0 ? "LOADED" : "refused"} (${firstLine(r)})`);
      expect(r.code).not.toBe(0);
      expect(existsSync(`/sys/fs/bpf/seal-intruder-${kind}`)).toBe(false);
    }
    // `check` loads cgwarden's own LSM and fentry probes.
    expect(asRoot("check").code).toBe(1);
    expect(asManager("check").code).toBe(0);
    expect(asManager("seal", "--manager-exe", MANAGER).code).toBe(0);
    expect(run(["bpftool", "prog", "load", join(FIXTURES, "intruder-fentry.bpf.o"), "/sys/fs/bpf/seal-intruder-fentry"]).code).toBe(0);
    run(["rm", "-f", "/sys/fs/bpf/seal-intruder-fentry"]);
  });

  test("the seal in a policy file: apply seals, export keeps it, apply without it unseals (managers only)", () => {
    const policy = `[[lock]]\npath = "/${SVC.L}"\ndirections = ["out"]\n\n[seal]\nmanagers = ["${MANAGER}"]\n`;
    writeFileSync("/tmp/seal-file.toml", policy);
    expect(asManager("unseal").code).toBe(0);
    expect(JSON.parse(asRoot("apply", "/tmp/seal-file.toml", "--json").out)).toMatchObject({ changed: true, sealChanged: true });
    expect(JSON.parse(asRoot("status", "--json").out).seal.sealed).toBe(true);
    expect(JSON.parse(asRoot("apply", "/tmp/seal-file.toml", "--json").out).changed).toBe(false);
    writeFileSync("/tmp/seal-nofile.toml", `[[lock]]\npath = "/${SVC.L}"\ndirections = ["out"]\n`);
    expect(sealedLine(asRoot("apply", "/tmp/seal-nofile.toml"))).toBe(true);
    expect(JSON.parse(asManager("apply", "/tmp/seal-nofile.toml", "--json").out)).toMatchObject({ changed: true, sealChanged: true });
    expect(JSON.parse(asRoot("status", "--json").out).seal.sealed).toBe(false);
    expect(lockHolds()).toBe(true);
  });

  test("unsealed, root is root again: unload lifts the lock", async () => {
    expect(asManager("seal", "--manager-exe", MANAGER).code).toBe(0);
    expect(asManager("unseal").code).toBe(0);
    expect(asRoot("unload").code).toBe(0);
    expect(lockHolds()).toBe(false);
    await ok("load");
    await ok("lock", `/${SVC.L}`, "--out");
  });

  test("a key seal whose keyring root unlinks: unchangeable until reboot, never unsealed (a third instance, left for the reboot)", async () => {
    const dir = "/sys/fs/bpf/cgwarden-key-gone";
    expect(asRoot("load", "--pin-dir", dir).code).toBe(0);
    expect(asRoot("seal", "--key", CERT, "--pin-dir", dir).code).toBe(0);
    const ring: number = JSON.parse(asRoot("status", "--json", "--pin-dir", dir).out).seal.key.keyring;
    expect(run([process.execPath, PROBE, "unlink-ring", String(ring)]).out).toBe("ok");
    for (let i = 0; i < 50 && run(["grep", "-c", ring.toString(16).padStart(8, "0"), "/proc/keys"]).out !== "0"; i++) await Bun.sleep(100); // the kernel's key GC
    const r = asKeyHolder("unload", "--pin-dir", dir);
    console.log(`seal: the key's holder after root unlinked the keyring: ${firstLine(r)}`);
    expect(r.code).toBe(1);
    expect(r.err).toContain("the seal's key is gone");
    expect(JSON.parse(asRoot("status", "--json", "--pin-dir", dir).out).seal.sealed).toBe(true);
    expect(existsSync(join(dir, "maps/locks"))).toBe(true);
  });

  test("--until-reboot: nobody, manager or not, can lift it (a second instance, left for the reboot)", async () => {
    const dir = "/sys/fs/bpf/cgwarden-until-reboot";
    expect(asRoot("load", "--pin-dir", dir).code).toBe(0);
    expect(asRoot("seal", "--until-reboot", "--pin-dir", dir).code).toBe(0);
    for (const r of [asRoot("unload", "--pin-dir", dir), asManager("unload", "--pin-dir", dir), asManager("unseal", "--pin-dir", dir)]) {
      expect(r.code).toBe(1);
      expect(r.err).toContain("sealed until reboot");
    }
    expect(existsSync(join(dir, "maps/locks"))).toBe(true);
    // The default instance is unaffected.
    expect(asRoot("unlock", `/${SVC.L}`).code).toBe(0);
  });
});
