// Enforced from boot on a real machine: cgwarden on a real Debian machine with systemd as PID 1,
// installed as an admin installs it (test/system/installed.ts: apt install
// of the Debian package, which ships examples/services-stay-put.toml as
// /etc/cgwarden/policy.toml, enables the unit and remakes the initramfs with
// cgwarden's hook). Runs inside that machine as root, from
// cgwarden-run.service (test/system/run.ts boots it).
// CGWARDEN_SYSTEM_BOOT=second runs only the boot checks, on the machine
// booted again with a seal in its policy file and the package upgraded;
// =dracut, the same from the initramfs dracut made; =purged, after apt
// purge, that nothing of cgwarden is left; =unsupported, booted without the BPF LSM, and
// =lockdown, Debian 6.1 under lockdown=confidentiality (the verifier refuses
// the object), check that cgwarden stays out of the boot's way.
// One line per scenario: "system: SCENARIO: ok (...)".
import { describe, expect, test } from "bun:test";
import { existsSync, lstatSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { ROOT, spawn } from "../../scripts/project.ts";
import type { FleetReport } from "./fleet.ts";
import { INITRAMFS_TOOLS_CARRIES, KEYED, MOVER_ATTEMPTS, PURGED_LIST } from "./footprint.ts";

const CGW = "/usr/sbin/cgwarden";
const KERNEL = process.env.CGWARDEN_TEST_KERNEL ?? "unknown";
const BOOT = process.env.CGWARDEN_SYSTEM_BOOT ?? "first";
const SECOND = BOOT === "second";
/** Kernels that cannot enforce: the reason `check` must give, which the unit's log holds. */
const CANNOT_ENFORCE: Record<string, { label: string; reason: string[] }> = {
  unsupported: { label: "without the BPF LSM", reason: ["BPF LSM not active"] },
  lockdown: { label: "under lockdown=confidentiality", reason: ["lockdown=confidentiality", "the kernel refuses cgwarden's object", "bpf_rdonly_cast()"] },
};
const UNSUPPORTED = BOOT in CANNOT_ENFORCE;
const DRACUT = BOOT === "dracut";
const PURGED = BOOT === "purged";
const KEYED_BOOT = BOOT === "keyed";
/** The version the second boot's machine was upgraded to (installed.ts). */
const UPGRADE_VERSION = process.env.CGWARDEN_UPGRADE_VERSION ?? "?";

interface Run {
  code: number;
  out: string;
  err: string;
}

function sh(script: string): Run {
  const r = spawn(["sh", "-c", script]);
  return { code: r.code, out: r.out.trim(), err: r.err.trim() };
}
function ok(script: string): string {
  const r = sh(script);
  if (r.code !== 0) throw new Error(`${script}: exit ${r.code}: ${r.err || r.out}`);
  return r.out;
}
const cgw = (args: string) => ok(`${CGW} ${args}`);
const cgroupOf = (pid: number) => readFileSync(`/proc/${pid}/cgroup`, "utf8").trim().replace(/^0::/, "");
const say = (scenario: string, detail: string) => console.log(`system: ${scenario} on ${KERNEL}: ok (${detail})`);
const monotonicNow = () => Number(readFileSync("/proc/uptime", "utf8").split(" ")[0]);
/** When the machine booted, in Unix seconds to about 10 ms: to compare monotonic timestamps with the seal's wall-clock time. */
const bootedAt = () => Date.now() / 1000 - monotonicNow();

/** A shell of an admin's, outside system.slice (where the policy holds every service in). */
function asAdmin(script: string): string {
  return ok(`systemd-run --quiet --wait --pipe --collect --slice=cgw-admin.slice -p Type=exec sh -c '${script.replace(/'/g, `'\\''`)}'`);
}

/** The fields of `audit --json` records these scenarios read. */
interface AuditRecord {
  seq: number;
  verdict: string;
  via: string;
  actor: { comm: string; exe: { path: string | null } };
  dst: { id: string; path: string | null };
}
const records = (): AuditRecord[] => ok(`${CGW} audit --json`).split("\n").filter(Boolean).map((l) => JSON.parse(l));

function unit(name: string, body: string): void {
  writeFileSync(`/etc/systemd/system/${name}`, body);
  ok("systemctl daemon-reload");
}

/** The #22874 logins: started early in the first boot, judged later, so pam_systemd's two-minute wait overlaps other scenarios. */
interface LoginStart {
  since: string;
  t0: number;
}
type LoginResult = { cgroup: string; seconds: number; out: string; logind: string; pam: string; pid1: string };
const suLogins: { free?: LoginResult; plain?: LoginResult; held?: LoginStart } = {};

/** Starts each command in a oneshot unit of its own, together. */
function startLogins(tools: string[]): LoginStart {
  const since = ok("date +%s");
  for (const tool of tools) {
    const name = `cgw-su-${tool.replace(/ /g, "")}`;
    unit(`${name}.service`, `[Service]\nType=oneshot\nExecStart=/bin/sh -c '${tool} cgwtest ${tool.endsWith("-u") ? "-- sh " : ""}-c "cat /proc/self/cgroup > /tmp/${name}.cgroup"; echo "${tool} exit $?"'\n`);
    sh(`rm -f /tmp/${name}.cgroup`);
  }
  const t0 = Date.now();
  for (const tool of tools) ok(`systemctl start --no-block cgw-su-${tool.replace(/ /g, "")}`);
  return { since, t0 };
}

async function finishLogin(tool: string, started: LoginStart): Promise<LoginResult> {
  const name = `cgw-su-${tool.replace(/ /g, "")}`;
  while (!existsSync(`/tmp/${name}.cgroup`) || sh(`systemctl is-active ${name}`).out === "activating") await Bun.sleep(500);
  const command = tool.split(" ")[0]!;
  return {
    cgroup: ok(`cat /tmp/${name}.cgroup`).replace(/^0::/, ""),
    seconds: (Date.now() - started.t0) / 1000,
    out: ok(`journalctl -o cat -u ${name} --since @${started.since}`),
    logind: ok(`journalctl -o cat -u systemd-logind --since @${started.since}`),
    pam: ok(`journalctl -o cat -t ${command} --since @${started.since}`),
    pid1: ok(`journalctl -o cat _PID=1 --since @${started.since} | grep -i -e session -e scope | grep -v cgw-su || true`),
  };
}

/**
 * The fleet scenario's guest side: QEMU's user network brought up by hand
 * (the image configures none, so no other boot waits for one), the host's
 * key authorized, and then the host's plays (fleet.ts) awaited.
 */
async function fleetPlays() {
  const out = "/run/cgwarden-share/out";
  if (!existsSync(`${out}/fleet_key.pub`)) throw new Error("no fleet_key.pub in the share: this boot was started without the host's side (test/system/run.ts gives it a network and fleet.ts)");
  const nic = readdirSync("/sys/class/net").find((n) => n !== "lo");
  if (!nic) throw new Error("this boot has no network card; test/system/run.ts gives it one");
  ok(`ip link set ${nic} up && ip addr replace 10.0.2.15/24 dev ${nic} && ip route replace default via 10.0.2.2`);
  ok(`mkdir -p -m 700 /root/.ssh && cat ${out}/fleet_key.pub >> /root/.ssh/authorized_keys`);
  writeFileSync(`${out}/fleet-ready`, "");
  while (!existsSync(`${out}/fleet.json`)) await Bun.sleep(1000);
  const report = JSON.parse(readFileSync(`${out}/fleet.json`, "utf8")) as FleetReport;
  const play = Object.fromEntries(report.plays.map((p) => [p.name, p]));
  const summary = (name: string) => `exit ${play[name]?.exitCode}, changed=${play[name]?.recap.changed} failed=${play[name]?.recap.failed}, ${play[name]?.seconds.toFixed(1)} s`;
  const dump = () => {
    for (const p of report.plays) console.log(`--- play ${p.name}: ${summary(p.name)} ---\n${p.output}`);
  };
  /**
   * A play cgwarden refused: it failed, the role's last word (its fail task)
   * is cgwarden's own line, and the policy and the drop-ins (names and
   * digests) are exactly as after the play `before`. Returns that line.
   */
  const refused = (name: string, before: string, says: string): string => {
    const why = play[name]!.output.split("\n").filter((l) => l.includes('"msg": ')).at(-1) ?? "";
    expect({ play: name, exitedNonZero: play[name]!.exitCode !== 0, failed: play[name]!.recap.failed }).toEqual({ play: name, exitedNonZero: true, failed: 1 });
    expect(why).toContain(says);
    expect({ exports: report.exports[name], dropIns: report.dropIns[name] }).toEqual({ exports: report.exports[before]!, dropIns: report.dropIns[before]! });
    return why.trim().replace(/^.*?"msg": "/, "");
  };
  return { report, play, summary, dump, refused };
}

describe.skipIf(!UNSUPPORTED)(`boot ${CANNOT_ENFORCE[BOOT]?.label} on ${KERNEL}`, () => {
  test("the boot neither hangs nor fails; the unit skips itself and its log says why", () => {
    const state = sh("systemctl is-system-running --wait");
    const failed = ok("systemctl --failed --no-legend --plain");
    expect({ state: state.out, failed }).toEqual({ state: "running", failed: "" });
    const log = ok("journalctl -b -o cat -u cgwarden.service");
    for (const text of CANNOT_ENFORCE[BOOT]!.reason) expect(log).toContain(text);
    expect(log).toContain("verdict: cannot enforce");
    expect(sh("systemctl is-active cgwarden.service").out).toBe("inactive");
    expect(sh(`${CGW} status`).out).toContain("not loaded");
    say(`kernel ${CANNOT_ENFORCE[BOOT]!.label}`, `running, no failed unit; cgwarden.service skipped by its ExecCondition: ${log.split("\n").find((l) => l.includes("verdict")) ?? "?"}`);
  });
});

describe.skipIf(!PURGED)(`boot after apt purge cgwarden on ${KERNEL}`, () => {
  test("nothing of cgwarden is left: no pins, programs, unit, files or initramfs hook, and the machine runs", () => {
    const state = sh("systemctl is-system-running --wait");
    const failed = ok("systemctl --failed --no-legend --plain");
    expect({ state: state.out, failed }).toEqual({ state: "running", failed: "" });
    expect(sh("dpkg-query -W -f '${Status}' cgwarden").out).not.toContain("installed");
    // What the package owned and its scripts made, as the image build listed it before the purge, and the pins.
    const files = [...readFileSync(PURGED_LIST, "utf8").split("\n").filter(Boolean), "/sys/fs/bpf/cgwarden"];
    expect(files.length).toBeGreaterThan(10);
    expect(files.filter((f) => lstatSync(f, { throwIfNoEntry: false }) !== undefined)).toEqual([]);
    expect(sh("systemctl list-unit-files --no-legend cgwarden.service").out).toBe("");
    const programs = ok("bpftool prog show --json");
    expect(JSON.parse(programs).filter((p: { name?: string }) => p.name?.startsWith("cgwarden"))).toEqual([]);
    // The initramfs this kernel boots (Debian's kernels; the hook kernel's is checked where it is made).
    const initrd = `/boot/initrd.img-${ok("uname -r")}`;
    const listing = existsSync(initrd) ? ok(`lsinitramfs ${initrd}`).split("\n") : [];
    // What cgwarden's hook puts there (conf/conf.d/cgwarden is the test image's own FSTYPE setting, image.ts).
    expect(listing.filter((l) => INITRAMFS_TOOLS_CARRIES.some((c) => l.includes(c)))).toEqual([]);
    // Every message of the boot but this test's own (cgwarden-run.service, whose output the journal keeps) and the test units'.
    const mentions = ok("journalctl -b -o json")
      .split("\n")
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { MESSAGE?: unknown; _SYSTEMD_UNIT?: string })
      .filter((e) => e._SYSTEMD_UNIT !== "cgwarden-run.service" && typeof e.MESSAGE === "string" && /cgwarden/.test(e.MESSAGE) && !/cgwarden-run|cgwarden-system|cgw-/.test(e.MESSAGE))
      .map((e) => e.MESSAGE);
    expect(mentions).toEqual([]);
    say("purged", `running, no failed unit; no pins, no cgwarden program, no unit, no files${existsSync(initrd) ? `, ${initrd} without cgwarden` : ""}, and nothing about cgwarden in the journal`);
  });
});

describe.skipIf(!KEYED_BOOT)(`boot key-sealed, after root edited the signed policy, on ${KERNEL}`, () => {
  const sign = `openssl cms -sign -binary -noattr -outform DER -signer ${KEYED.cert} -inkey ${KEYED.key}`;

  test("the initramfs refused root's edit and put the signed policy it carries in force, key seal included, before PID 1", () => {
    const status = JSON.parse(cgw("status --json"));
    expect(status.seal).toMatchObject({ sealed: true, managers: [], key: { subject: KEYED.subject } });
    // What was applied: the initramfs's signed copy, not the file root left on disk (which has no [seal]).
    expect(status.applied).toMatchObject({ origin: "initramfs", by: "apply", file: "/etc/cgwarden/signed/policy.toml" });
    const onDisk = new Bun.CryptoHasher("sha256").update(readFileSync("/etc/cgwarden/policy.toml")).digest("hex");
    expect(status.applied.sha256).not.toBe(onDisk);
    expect(readFileSync("/etc/cgwarden/policy.toml", "utf8")).not.toContain("[seal]");
    const sealedAt = Date.parse(status.seal.sealedAt) / 1000;
    const userspace = bootedAt() + Number(ok("systemctl show -P UserspaceTimestampMonotonic")) / 1e6;
    expect(sealedAt).toBeLessThan(userspace);
    say("key seal at boot", `root's policy.toml (no [seal], its old signature beside it) refused; the initramfs applied its signed copy (sha256 ${status.applied.sha256.slice(0, 12)}), sealed with ${status.seal.key.subject} ${(userspace - sealedAt).toFixed(1)} s before PID 1 started`);
  });

  test("cgwarden.service fails loudly, the machine's only failed unit: the edited file needs the key", () => {
    const state = sh("systemctl is-system-running --wait");
    const failed = ok("systemctl --failed --no-legend --plain").split("\n").map((l) => l.split(" ")[0]);
    expect({ state: state.out, failed }).toEqual({ state: "degraded", failed: ["cgwarden.service"] });
    const log = ok("journalctl -b -o cat -u cgwarden.service");
    expect(log).toContain("is sealed with a key, so only a process it authorizes may");
    say("tampered boot", `is-system-running: ${state.out} (only cgwarden.service failed); its log: ${log.split("\n").find((l) => l.includes("sealed with a key"))?.slice(0, 120)}...`);
  });

  test("root cannot change it, nor can PID 1 for root; the key's holder can", () => {
    const unload = sh(`${CGW} unload`);
    expect(unload.code).toBe(1);
    expect(unload.err).toContain("sealed with a key");
    const viaPid1 = sh("systemd-run --quiet --wait --pipe --collect /usr/sbin/cgwarden unseal");
    expect(viaPid1.code).not.toBe(0);
    expect(JSON.parse(cgw("status --json")).seal.sealed).toBe(true);
    const holder = sh(`${CGW} lock /cgw-by-key --authorize-with '${sign}'`);
    expect({ code: holder.code, err: holder.err }).toMatchObject({ code: 0 });
    expect(cgw("rules")).toContain("/cgw-by-key");
    say("key holder", `root's unload: refused; systemd-run cgwarden unseal: exit ${viaPid1.code}; with the key's signature: ${holder.out.split("\n").at(-1)}`);
  });
});

describe.skipIf(UNSUPPORTED || PURGED || KEYED_BOOT)(`boot on ${KERNEL}${SECOND ? " (second boot, sealed from the initramfs, the package upgraded)" : DRACUT ? " (from dracut's initramfs)" : ""}`, () => {
  test("the system comes up: running, no failed unit", () => {
    const state = sh("systemctl is-system-running --wait");
    const failed = ok("systemctl --failed --no-legend --plain");
    expect({ state: state.out, failed }).toEqual({ state: "running", failed: "" });
    say("boot", `is-system-running: ${state.out}; systemctl --failed: empty`);
  });

  test("installed by its Debian package, which enabled the unit", () => {
    const version = ok("dpkg-query -W -f '${Status} ${Version}' cgwarden");
    expect(version).toBe(`install ok installed ${SECOND ? UPGRADE_VERSION : version.split(" ").at(-1)}`);
    expect(ok("systemctl is-enabled cgwarden.service")).toBe("enabled");
    say("package", `dpkg: ${version}${SECOND ? " (upgraded, then rebooted)" : ""}; cgwarden.service enabled by the package`);
  });

  test("the policy was in force before PID 1 started: applied from the initramfs, the unit found it in place", () => {
    const status = JSON.parse(cgw("status --json"));
    expect(status.loaded).toBe(true);
    expect(status.applied).toMatchObject({ origin: "initramfs", by: "apply", file: "/etc/cgwarden/policy.toml" });
    expect(status.applied.sha256).toBe(new Bun.CryptoHasher("sha256").update(readFileSync("/etc/cgwarden/policy.toml")).digest("hex"));
    const unitLog = ok("journalctl -b -o cat -u cgwarden.service");
    expect(unitLog).toContain("already matches; nothing changed");
    expect(ok("systemctl is-active cgwarden.service")).toBe("active");
    say("provenance", `applied ${status.applied.at} from the initramfs, sha256 ${status.applied.sha256.slice(0, 12)}; cgwarden.service: ${unitLog.split("\n").find((l) => l.includes("already matches"))}`);
  });

  test("a service whose cgroup the policy names could not be moved out at any point during boot", async () => {
    // The mover tries from early boot (before cgwarden.service) until uptime 60 s, and at least MOVER_ATTEMPTS times.
    while (!readFileSync("/run/cgw-early-mover.log", "utf8").includes("done") && monotonicNow() < 260) await Bun.sleep(1000);
    const log = readFileSync("/run/cgw-early-mover.log", "utf8");
    const done = /done attempts (\d+) moved (\d+)/.exec(log);
    const first = Number(/^first ([\d.]+)/m.exec(log)?.[1] ?? Number.NaN);
    const unitStarted = Number(ok("systemctl show -P ExecMainStartTimestampMonotonic cgwarden.service")) / 1e6;
    expect(done).not.toBeNull();
    expect({ moved: Number(done![2]), attemptedBeforeTheUnit: first < unitStarted }).toEqual({ moved: 0, attemptedBeforeTheUnit: true });
    expect(Number(done![1])).toBeGreaterThanOrEqual(MOVER_ATTEMPTS);
    expect(cgroupOf(Number(ok("systemctl show -P MainPID cgw-victim.service")))).toBe("/system.slice/cgw-victim.service");
    say("early boot", `${done![1]} attempts to move cgw-victim.service out from uptime ${first.toFixed(1)} s (cgwarden.service started at ${unitStarted.toFixed(1)} s), 0 moved`);
  }, 300_000);

  test.skipIf(!SECOND)("the seal in the policy file was in force before PID 1 started, and holds against root", () => {
    const status = JSON.parse(cgw("status --json"));
    expect(status.seal).toMatchObject({ sealed: true, managers: [{ exe: "/usr/lib/systemd/systemd", pid: null }] });
    const sealedAt = Date.parse(status.seal.sealedAt) / 1000;
    const unitStarted = bootedAt() + Number(ok("systemctl show -P ExecMainStartTimestampMonotonic cgwarden.service")) / 1e6;
    expect(sealedAt).toBeLessThan(unitStarted);
    const unload = sh(`${CGW} unload`);
    expect(unload.code).toBe(1);
    expect(unload.err).toContain("is sealed, so only its managers may unload it");
    expect(sh("rm /sys/fs/bpf/cgwarden/links/cgwarden_exec").code).not.toBe(0);
    // PID 1 is a manager: cgwarden run by it (a unit) changes the sealed policy.
    ok("systemd-run --quiet --wait --pipe /usr/sbin/cgwarden lock /cgw-by-pid1");
    expect(cgw("rules")).toContain("/cgw-by-pid1");
    say("seal at boot", `sealed ${(unitStarted - sealedAt).toFixed(1)} s before cgwarden.service started; root's unload: ${unload.err.trim().slice(0, 80)}...; a unit (PID 1's child) changed it`);
  });

  test.skipIf(!SECOND)("a sealed fleet machine: the role's apply as root is refused and leaves policy and files as they were; as PID 1's child (cgwarden_apply_as: pid1) it changes the policy", async () => {
    const { report, play, summary, dump, refused } = await fleetPlays();
    let why = "";
    try {
      why = refused("refused", "before", "is sealed, so only its managers may");
      expect({ exit: play.pid1!.exitCode, failed: play.pid1!.recap.failed }).toEqual({ exit: 0, failed: 0 });
      expect(play.pid1!.recap.changed).toBeGreaterThanOrEqual(2);
      expect(report.exports.pid1).toContain('# from /etc/cgwarden/policy.d/50-fleet-sealed.toml:3\n[[lock]]\npath = "/fleet-sealed.slice"');
      expect(JSON.parse(cgw("status --json")).seal).toMatchObject({ sealed: true });
    } catch (e) {
      dump();
      throw e;
    }
    say("sealed fleet", `as root over SSH ${summary("refused")}: ${why.slice(0, 160)}; policy and drop-ins as they were; as PID 1's child ${summary("pid1")}; still sealed`);
  }, 1_200_000);

  test.skipIf(!DRACUT)("dracut's initramfs ran cgwarden's pre-pivot hook without a warning", () => {
    const prePivot = ok("journalctl -b -o cat -u dracut-pre-pivot.service");
    expect(prePivot).toContain("Finished dracut-pre-pivot.service");
    expect(prePivot).not.toContain("policy not applied");
    const dracut = ok("journalctl -b -o cat -t dracut-cmdline").split("\n").find((l) => l.includes("dracut-")) ?? "";
    expect(dracut).toContain("dracut-");
    say("dracut", `${dracut.trim()}; its pre-pivot hook applied the policy, quietly (a failure would have logged "cgwarden: policy not applied")`);
  });

  test("nothing systemd did was denied", () => {
    const all = records();
    const bySystemd = all.filter((r) => r.actor.comm === "systemd" || r.actor.exe.path === "/usr/lib/systemd/systemd");
    expect(bySystemd).toEqual([]);
    say("records", `${all.length} records, none of them systemd's (the early mover's are the rest)`);
  });
});

describe.skipIf(BOOT !== "first")(`the seed's policy on ${KERNEL}`, () => {
  test("a service restarted 10 times is locked in its new cgroup each time", () => {
    unit("cgw-svc.service", "[Unit]\nStartLimitIntervalSec=0\n\n[Service]\nExecStart=/bin/sleep infinity\n");
    const before = JSON.parse(cgw("rules --json")).rules[0].binds;
    const cgroups = new Set<string>();
    for (let i = 0; i < 10; i++) {
      ok(i === 0 ? "systemctl start cgw-svc" : "systemctl restart cgw-svc");
      const pid = Number(ok("systemctl show -P MainPID cgw-svc"));
      const inode = ok("stat -c %i /sys/fs/cgroup/system.slice/cgw-svc.service");
      cgroups.add(inode);
      // coreutils' echo, which names the errno (dash's builtin says "I/O error" for any failed write).
      const move = sh(`/bin/echo ${pid} > /sys/fs/cgroup/user.slice/cgroup.procs`);
      expect(move.code).not.toBe(0);
      expect(move.err).toContain("Operation not permitted");
      expect(cgroupOf(pid)).toBe("/system.slice/cgw-svc.service");
    }
    const after = JSON.parse(cgw("rules --json")).rules[0].binds;
    expect(cgroups.size).toBe(10); // systemd really made a new cgroup each time
    expect(after - before).toBeGreaterThanOrEqual(10);
    ok("systemctl stop cgw-svc");
    say("restarts", `10 restarts, 10 new cgroups, root's echo PID > /sys/fs/cgroup/user.slice/cgroup.procs refused each time, rule bound ${after - before} more times`);
  });

  test("a bad policy file fails the unit loudly and leaves the policy in force", () => {
    const good = readFileSync("/etc/cgwarden/policy.toml", "utf8");
    try {
      writeFileSync("/etc/cgwarden/policy.toml", `${good}\n[[lock]]\npath = "relative"\n`);
      expect(sh("systemctl restart cgwarden.service").code).not.toBe(0);
      expect(sh("systemctl is-failed cgwarden.service").out).toBe("failed");
      const log = ok("journalctl -b -o cat -u cgwarden.service");
      expect(log).toMatch(/cgwarden: \/etc\/cgwarden\/policy\.toml:\d+: lock\[\d+\]\.path: /);
      const status = JSON.parse(cgw("status --json"));
      expect(JSON.parse(cgw("rules --json")).rules.map((r: { path: string }) => r.path)).toContain("/system.slice/**/*.service");
      say("bad file", `unit failed: ${log.split("\n").find((l) => /lock\[\d+\]\.path/.test(l))}; still in force: the policy applied ${status.applied.at}`);
    } finally {
      writeFileSync("/etc/cgwarden/policy.toml", good);
      ok("systemctl restart cgwarden.service");
    }
  });

  test("drop-ins: systemctl reload puts policy.d/ in force; a conflicting drop-in fails the reload, names both files, and changes nothing", () => {
    const dropIn = "/etc/cgwarden/policy.d/50-cgw-test.toml";
    const bad = "/etc/cgwarden/policy.d/60-cgw-bad.toml";
    const before = cgw("export");
    const since = ok("date +%s");
    try {
      writeFileSync(dropIn, '# a drop-in, as configuration management writes one\n[[lock]]\npath = "/cgw-dropin.slice"\n');
      ok("systemctl reload cgwarden.service");
      const rule = JSON.parse(cgw("rules --json")).rules.find((r: { path: string }) => r.path === "/cgw-dropin.slice");
      expect(rule).toMatchObject({ kind: "lock", state: "waiting", source: { file: dropIn, line: 2 } });
      expect(cgw("export --sources")).toContain(`# from ${dropIn}:2\n[[lock]]\npath = "/cgw-dropin.slice"`);
      const applied = ok(`journalctl -o cat -u cgwarden.service --since @${since}`);
      expect(applied).toContain("apply /etc/cgwarden (2 files): changed: 1 added, 0 removed, 0 updated");
      const withDropIn = cgw("export");

      // The policy.toml lock of the services' template, stated again with the other mode: a conflict, not an override.
      const held = JSON.parse(cgw("rules --json")).rules.find((r: { path: string; kind: string }) => r.kind === "lock" && r.path === "/system.slice/**/*.service");
      writeFileSync(bad, `[[lock]]\npath = "/system.slice/**/*.service"\nmode = "${held.mode === "audit" ? "enforce" : "audit"}"\n`);
      const reload = sh("systemctl reload cgwarden.service");
      expect(reload.code).not.toBe(0);
      const log = ok(`journalctl -o cat -u cgwarden.service --since @${since}`);
      const line = log.split("\n").find((l) => l.includes(`${bad}:2: lock[0].path`)) ?? "";
      expect(line).toContain(`is locked differently in ${held.source.file}:${held.source.line}: lock[`);
      expect(cgw("export")).toBe(withDropIn); // nothing changed
      expect(ok("systemctl is-active cgwarden.service")).toBe("active"); // a failed reload leaves the unit as it was
      rmSync(bad);
      rmSync(dropIn);
      ok("systemctl reload cgwarden.service");
      expect(cgw("export")).toBe(before);
      say("drop-ins", `reload added ${dropIn}'s lock (export --sources names it); the conflicting drop-in failed the reload: ${line}; policy unchanged, unit still active; removing both and reloading restored the policy`);
    } finally {
      for (const f of [dropIn, bad]) rmSync(f, { force: true });
      sh("systemctl reload cgwarden.service");
    }
  });

  test("systemd-run --unit and --scope work", () => {
    ok("systemd-run --quiet --unit=cgw-transient -p Type=exec /bin/sleep 30");
    expect(ok("systemctl is-active cgw-transient")).toBe("active");
    // --scope from where an admin types it, a login session's slice, not from inside a service.
    const scope = ok("systemd-run --quiet --wait --pipe --slice=user.slice -p Type=exec -- systemd-run --quiet --scope -- cat /proc/self/cgroup");
    expect(scope).toMatch(/^0::\/system\.slice\/run-.*\.scope$/); // PID 1's default slice for a transient scope
    ok("systemctl stop cgw-transient");
    say("systemd-run", `--unit started cgw-transient.service; --scope ran in ${scope.slice(3)}`);
  });

  test("systemd issue #22874, started: su -l and runuser -l in services (judged later, after the SSH logins)", async () => {
    sh("id cgwtest >/dev/null 2>&1 || useradd -m cgwtest");
    // Without cgwarden's verdict: audit mode lets every move through and records it.
    cgw("mode audit");
    suLogins.free = await finishLogin("runuser -l", startLogins(["runuser -l"]));
    cgw("mode enforce");
    // Without a login session (runuser without -l: no PAM session stack, no pam_systemd), nothing waits.
    suLogins.plain = await finishLogin("runuser -u", startLogins(["runuser -u"]));
    // Under enforcement each of these waits for pam_systemd: they run on while the next scenarios do.
    suLogins.held = startLogins(["runuser -l", "su -l"]);
    expect(suLogins.free.cgroup).toMatch(/^\/user\.slice\/user-\d+\.slice\/session-\w+\.scope$/);
    expect(suLogins.plain.cgroup).toBe("/system.slice/cgw-su-runuser-u.service");
  }, 120_000);

  test("libcgroup tools: cgexec and cgclassify pass under a rule naming them, are refused otherwise, and the records name them", () => {
    mkdirSync("/sys/fs/cgroup/cgw-tools/a", { recursive: true });
    // libcgroup 2.0 on cgroup v2 names a controller the target cgroup has ("Cgroup is not mounted" otherwise).
    writeFileSync("/sys/fs/cgroup/cgw-tools/cgroup.subtree_control", "+pids");
    cgw("lock /cgw-tools --in");
    // As an admin runs them: from outside system.slice, where nothing holds the tools themselves in.
    const tools = () =>
      asAdmin(
        "sleep 300 & pid=$!; cgclassify -g pids:cgw-tools/a $pid; echo \"classify $?\"; cat /proc/$pid/cgroup; kill $pid; " +
          "cgexec -g pids:cgw-tools/a cat /proc/self/cgroup; echo \"exec $?\"",
      );
    try {
      const denied = tools();
      console.log(`system: libcgroup without a rule said: ${denied.replace(/\n/g, " | ")}`);
      expect(denied).not.toContain("0::/cgw-tools/a");
      const comms = [...new Set(records().filter((r) => r.dst.path === "/cgw-tools/a" && r.verdict === "denied").map((r) => r.actor.comm))].sort();
      expect(comms).toEqual(["cgclassify", "cgexec"]);
      cgw(`allow /cgw-tools --exe ${ok("command -v cgexec")}`);
      cgw(`allow /cgw-tools --exe ${ok("command -v cgclassify")}`);
      const allowed = tools();
      expect(allowed).toContain("classify 0\n0::/cgw-tools/a");
      expect(allowed).toContain("0::/cgw-tools/a\nexec 0");
      say("libcgroup", `without a rule: ${denied.replace(/\n/g, " | ")}; records by ${comms.join(" and ")}; with allow --exe for each: both moved`);
    } finally {
      sh(`${CGW} unlock /cgw-tools`);
    }
  });

  test("a delegated service runs crun: the container's cgroups inside its subtree, nothing outside", () => {
    const bundle = "/var/lib/cgw-bundle";
    if (!existsSync(`${bundle}/config.json`)) {
      for (const d of ["bin", "proc", "dev", "sys", "tmp"]) mkdirSync(`${bundle}/rootfs/${d}`, { recursive: true });
      ok(`cp /bin/busybox ${bundle}/rootfs/bin/busybox && cd ${bundle} && crun spec`);
      const spec = JSON.parse(readFileSync(`${bundle}/config.json`, "utf8"));
      spec.process.args = ["/bin/busybox", "sh", "-c", "cat /proc/self/cgroup; /bin/busybox sleep 3"];
      spec.process.terminal = false;
      spec.root = { path: "rootfs", readonly: false };
      spec.linux.cgroupsPath = "/system.slice/cgw-containers.service/container";
      writeFileSync(`${bundle}/config.json`, JSON.stringify(spec));
    }
    unit(
      "cgw-containers.service",
      `[Service]\nType=oneshot\nDelegate=yes\nExecStart=/bin/sh -c 'S=/sys/fs/cgroup/system.slice/cgw-containers.service; mkdir -p $$S/supervisor; /bin/echo $$$$ > $$S/supervisor/cgroup.procs; echo "supervisor $?"; crun delete -f cgw1 2>/dev/null; (i=0; while [ ! -d $$S/container ] && [ $$i -lt 600 ]; do sleep 0.1; i=$$((i+1)); done; for d in $$S/*/; do basename $$d; done > /tmp/cgw-containers.ls) & crun --cgroup-manager=cgroupfs run --bundle ${bundle} cgw1; echo "crun exit $?"; /bin/echo $$$$ > /sys/fs/cgroup/user.slice/cgroup.procs; echo "reach out exit $?"'\n`,
    );
    // Moves within the service's subtree are locked too (not "in": systemd starts the service by moving into it);
    // the delegation lets the service's own processes make them, as Delegate=yes means. The service's
    // shell first moves itself into a leaf (cgroup v2 keeps processes out of inner cgroups), then crun
    // makes the container's cgroup beside it and starts the container in it. The listing waits for the
    // container's cgroup (up to 60 s), not a fixed time: crun under emulation on a loaded host is slow to start.
    cgw("lock /system.slice/cgw-containers.service --within --out");
    const start = () => {
      const since = ok("date +%s");
      sh("systemctl start cgw-containers");
      return ok(`journalctl -o cat -u cgw-containers --since @${since}`);
    };
    const undelegated = start();
    cgw("delegate /system.slice/cgw-containers.service --cgroup /system.slice/cgw-containers.service");
    // Every decision recorded, allowed ones too: the records say how each task entered its cgroup.
    cgw("recording all");
    const seqBefore = Math.max(0, ...records().map((r) => Number(r.seq)));
    const delegated = start();
    cgw("recording denials");
    const byCrun = records().filter((r) => Number(r.seq) > seqBefore && r.actor.comm === "crun");
    const layout = ok("cat /tmp/cgw-containers.ls").split("\n");
    cgw("unlock /system.slice/cgw-containers.service");
    expect(undelegated).not.toContain("crun exit 0");
    expect(delegated).toContain("supervisor 0");
    expect(delegated).toContain("crun exit 0");
    expect(delegated).toContain("0::/");
    expect(delegated).toMatch(/reach out exit [1-9]/);
    expect(layout).toEqual(expect.arrayContaining(["container", "supervisor"]));
    // crun started the container straight into its cgroup with clone3(CLONE_INTO_CGROUP), and cgwarden decided it.
    const intoCgroup = byCrun.filter((r) => r.via === "clone" && r.verdict === "allowed");
    expect(intoCgroup.length).toBeGreaterThan(0);
    const how = [...new Set(byCrun.map((r) => `${r.via} ${r.verdict}`))].join(", ");
    say("crun", `without the delegation: ${undelegated.split("\n").filter((l) => /supervisor|crun exit|cgroup/.test(l)).join(" | ")}; with it: the service's cgroup held ${layout.join(" and ")} while the container ran (in its own cgroup namespace: ${delegated.split("\n").find((l) => l.startsWith("0::"))}), crun's decisions recorded: ${how} (${intoCgroup.length} clone3 into ${intoCgroup[0]!.dst.path ?? `cgroup ${intoCgroup[0]!.dst.id}`}), and the service's own move out was refused`);
  });
});

const SSH = "ssh -o ConnectTimeout=20 root@127.0.0.1";
const MINI = "localhost/cgw-mini";

/** The recorder's newest seq when the example's scenarios began recording every decision. */
let recordedFrom = 0;

describe.skipIf(BOOT !== "first")(`the shipped example on a real machine, ${KERNEL}`, () => {
  test("from here every decision is recorded, for what-if at the end", () => {
    recordedFrom = Math.max(0, ...records().map((r) => Number(r.seq)));
    cgw("recording all");
    expect(cgw("export")).toContain('record = "all"');
  });

  test("20 SSH logins in a row: each in its own session scope (the times printed)", () => {
    const seconds: number[] = [];
    const scopes = new Set<string>();
    for (let i = 0; i < 20; i++) {
      const t0 = Date.now();
      const cgroup = ok(`${SSH} cat /proc/self/cgroup`).replace(/^0::/, "");
      seconds.push((Date.now() - t0) / 1000);
      expect(cgroup).toMatch(/^\/user\.slice\/user-0\.slice\/session-\w+\.scope$/);
      scopes.add(cgroup);
    }
    // A login that stalls for logind (systemd #22874: PID 1 refused the move) ends without a session scope, so
    // the scope is what tells; the times are figures, not a bound (a loaded host slows a TCG guest's login).
    expect(scopes.size).toBe(20);
    const sorted = [...seconds].sort((a, b) => a - b);
    say("ssh logins", `20 logins over loopback, 20 session scopes, seconds min ${sorted[0]!.toFixed(1)} median ${sorted[10]!.toFixed(1)} max ${sorted[19]!.toFixed(1)}`);
  }, 400_000);

  test("systemd-run --scope from an SSH session works", () => {
    const scope = ok(`${SSH} systemd-run --quiet --scope -- cat /proc/self/cgroup`).replace(/^0::/, "");
    expect(scope).toMatch(/^\/(system|user)\.slice\/.*run-\w+\.scope$/);
    say("systemd-run --scope over SSH", `ran in ${scope}`);
  });

  test("podman run --rm of a local image: from an SSH session, and from a Delegate=yes service with --cgroups=split", () => {
    sh(`podman image exists ${MINI} || podman import ${"/var/lib/cgw-mini.tar"} ${MINI}`);
    const t0 = Date.now();
    const fromSsh = ok(`${SSH} podman run --rm --network=none ${MINI} /bin/busybox cat /proc/self/cgroup`);
    const sshSeconds = (Date.now() - t0) / 1000;
    // Quadlet's way: Delegate=yes and --cgroups=split keep the container inside the service's own cgroup.
    unit(
      "cgw-podman.service",
      `[Service]\nType=oneshot\nDelegate=yes\nExecStart=/usr/bin/podman run --rm --network=none --cgroups=split ${MINI} /bin/busybox cat /proc/self/cgroup\n`,
    );
    const since = ok("date +%s");
    const started = sh("systemctl start cgw-podman");
    const delegated = ok(`journalctl -o cat -u cgw-podman --since @${since}`);
    // A plain service: podman asks PID 1 for a libpod scope and to move the container there, out of the service.
    unit("cgw-podman-plain.service", `[Service]\nType=oneshot\nExecStart=/usr/bin/podman run --rm --network=none ${MINI} /bin/busybox cat /proc/self/cgroup\n`);
    const since2 = ok("date +%s");
    const plain = sh("systemctl start cgw-podman-plain");
    const plainLog = ok(`journalctl -o cat -u cgw-podman-plain --since @${since2}`);
    // The refused scope is left failed too (and the system degraded) until reset, as the README says.
    const failedScopes = ok("systemctl list-units --state=failed --no-legend --plain 'libpod-*.scope'").split("\n").filter(Boolean).map((l) => l.split(/\s+/)[0]);
    sh(`systemctl reset-failed cgw-podman-plain ${failedScopes.join(" ")}`);
    expect(fromSsh).toMatch(/^0::\//);
    expect(started.code).toBe(0);
    expect(delegated).toContain("0::/");
    const lines = (t: string) => t.split("\n").filter((l) => /0::|rror|denied|ermitted/.test(l)).slice(0, 3).join(" | ");
    say("podman", `over SSH in ${sshSeconds.toFixed(1)} s (${fromSsh}); Delegate=yes service with --cgroups=split: ${lines(delegated)}; a plain service without it: exit ${plain.code}: ${lines(plainLog)}, leaving ${failedScopes.length} failed scope (reset)`);
  }, 300_000);

  test("systemd issue #22874: su -l and runuser -l in a service leave it without cgwarden, stay with the policy", async () => {
    const held = await finishLogin("runuser -l", suLogins.held!);
    const heldSu = await finishLogin("su -l", suLogins.held!);
    const { free, plain } = suLogins as Required<typeof suLogins>;
    expect(held.cgroup).toBe("/system.slice/cgw-su-runuser-l.service");
    expect(held.out).toContain("runuser -l exit 0");
    expect(heldSu.cgroup).toBe("/system.slice/cgw-su-su-l.service");
    expect(heldSu.out).toContain("su -l exit 0");
    // The cost besides the wait: each refused session's scope is left failed, and the system "degraded", until reset
    // (the README says so, and how to avoid both). Asserted here, then reset as an admin would.
    const failedScopes = ok("systemctl list-units --state=failed --no-legend --plain 'session-*.scope'").split("\n").filter(Boolean).map((l) => l.split(/\s+/)[0]);
    expect(failedScopes.length).toBe(2);
    ok(`systemctl reset-failed ${failedScopes.join(" ")}`);
    const quote = (s: string) => s.replace(/\n/g, " | ") || "nothing";
    say("#22874", `audit mode: the child went to ${free.cgroup} (${free.seconds.toFixed(1)} s); enforced: runuser -l and su -l each stayed in their service and the login went on (exit 0) after ${held.seconds.toFixed(1)} s and ${heldSu.seconds.toFixed(1)} s; runuser -u (no session) ${plain.seconds.toFixed(1)} s; left failed (then reset): ${failedScopes.join(", ")}; runuser/PAM said: ${quote(held.pam)}; logind said: ${quote(held.logind)}; PID 1 said: ${quote(held.pid1)}`);
  }, 300_000);

  test("every running service, at any depth, is held against root before and after a restart of each", () => {
    mkdirSync("/sys/fs/cgroup/cgw-escape", { recursive: true });
    const services = () =>
      ok("systemctl list-units --type=service --state=running --no-legend --plain")
        .split("\n")
        .map((l) => l.split(/\s+/)[0]!)
        .filter(Boolean);
    // System services: the example holds what runs under system.slice (user@UID.service is a user's).
    const mainPid = (name: string) => Number(ok(`systemctl show -P MainPID ${name}`));
    const system = (names: string[]) => names.filter((n) => mainPid(n) > 0 && cgroupOf(mainPid(n)).startsWith("/system.slice/"));
    const attempt = (name: string) => {
      const pid = mainPid(name);
      const cgroup = cgroupOf(pid);
      const moved = sh(`/bin/echo ${pid} > /sys/fs/cgroup/cgw-escape/cgroup.procs`).code === 0;
      if (moved) writeFileSync(`/sys/fs/cgroup${cgroup}/cgroup.procs`, String(pid)); // put it back
      return { name, cgroup, held: !moved };
    };
    // The test's own unit is not restarted (it is this process), nor units systemd refuses to stop by hand.
    const restartable = (name: string) => name !== "cgwarden-run.service" && ok(`systemctl show -P RefuseManualStop ${name}`) === "no";
    const before = system(services()).map(attempt);
    const restarted = system(services()).filter(restartable);
    for (const name of restarted) ok(`systemctl restart ${name}`);
    const state = sh("systemctl is-system-running --wait").out;
    const after = system(services()).map(attempt);
    const free = [...before, ...after].filter((a) => !a.held);
    const deep = before.filter((a) => a.cgroup.split("/").length > 3).map((a) => a.cgroup);
    expect(free).toEqual([]);
    expect(deep.length).toBeGreaterThan(0); // getty@, serial-getty@: one slice down
    expect({ state, failed: ok("systemctl --failed --no-legend --plain") }).toEqual({ state: "running", failed: "" });
    say("every service", `${before.length} running services held before, ${restarted.length} restarted (${restarted.join(" ")}), ${after.length} held after, then ${state}; one slice down: ${deep.join(", ")}`);
  }, 600_000);

  test("what-if over everything recorded here: the example predicts every verdict; without its login allows, exactly the logins' moves are refused", () => {
    cgw("recording denials");
    const lines = ok(`${CGW} audit --json`).split("\n").filter(Boolean).filter((l) => JSON.parse(l).seq > recordedFrom);
    writeFileSync("/tmp/cgw-recorded.jsonl", `${lines.join("\n")}\n`);
    const recorded = lines.map((l) => JSON.parse(l) as AuditRecord & { src: { path: string | null } });
    const same = sh(`${CGW} what-if /etc/cgwarden/policy.toml --records /tmp/cgw-recorded.jsonl --json`);
    const sameReport = JSON.parse(same.out);
    // The example without its [[allow]]s: every service held, login services too.
    const strict = readFileSync("/etc/cgwarden/policy.toml", "utf8").split("\n\n").filter((block) => !block.includes("[[allow]]")).join("\n\n");
    writeFileSync("/tmp/cgw-strict.toml", strict);
    const without = sh(`${CGW} what-if /tmp/cgw-strict.toml --records /tmp/cgw-recorded.jsonl --json`);
    const report = JSON.parse(without.out);
    const refused = new Set<number>(report.changes.filter((c: { to: string }) => c.to === "denied").flatMap((c: { seqs: number[] }) => c.seqs));
    const loginMoves = recorded.filter((r) => r.verdict === "allowed" && r.actor.comm === "systemd" && /^\/system\.slice\/ssh\.service$/.test(r.src?.path ?? "") && /\/session-\w+\.scope$/.test(r.dst.path ?? ""));
    expect({ code: same.code, changed: sameReport.changed }).toEqual({ code: 0, changed: 0 });
    expect(without.code).toBe(3);
    expect([...refused].sort((a, b) => a - b)).toEqual(loginMoves.map((r) => r.seq).sort((a, b) => a - b));
    expect(loginMoves.length).toBeGreaterThanOrEqual(20);
    say("what-if", `${sameReport.replayed} decisions recorded during the scenarios; the example in force: ${sameReport.changed} would change (exit ${same.code}); the example without its allows: ${report.changed} would change, ${refused.size} newly denied (exit ${without.code}), exactly the ${loginMoves.length} moves of an SSH login's process by PID 1 into its session scope`);
  });

  test("container-host.toml: containers held in their scopes, podman still works", () => {
    // The package ships it in /usr/share/doc/cgwarden/examples/, which this minimal image keeps no docs in (dpkg's path-exclude).
    cgw(`apply ${ROOT}/examples/container-host.toml`);
    try {
      const id = ok(`${SSH} podman run -d --rm --network=none ${MINI} /bin/busybox sleep 120`).split("\n").pop()!;
      const pid = Number(ok(`podman inspect -f '{{.State.Pid}}' ${id}`));
      const scope = cgroupOf(pid);
      const move = sh(`/bin/echo ${pid} > /sys/fs/cgroup/cgw-escape/cgroup.procs`);
      const stayed = cgroupOf(pid);
      const exec = ok(`${SSH} podman exec ${id} /bin/busybox cat /proc/self/cgroup`);
      const stop = sh(`podman stop -t 1 ${id}`);
      expect(scope).toMatch(/^\/machine\.slice\/libpod-[0-9a-f]+\.scope/);
      expect(move.code).not.toBe(0);
      expect(stayed).toBe(scope);
      expect(stop.code).toBe(0);
      say("container host", `container in ${scope.slice(0, 40)}…; root's move out refused (${move.err.trim()}); podman exec worked (${exec}); podman stop exit ${stop.code}`);
    } finally {
      cgw("apply /etc/cgwarden/policy.toml");
    }
  }, 300_000);

  test("a fleet: the Ansible role over SSH writes drop-ins and applies them (changed), again (changed=0); a bad drop-in fails the play by file and line, policy and files as they were", async () => {
    const { report, play, summary, dump, refused } = await fleetPlays();
    let why = "";
    try {
      // First: the package as installed (apt: unchanged), the two drop-ins written and put in force.
      expect({ play: "first", exit: play.first!.exitCode, failed: play.first!.recap.failed, output: play.first!.exitCode ? play.first!.output : "" }).toEqual({ play: "first", exit: 0, failed: 0, output: "" });
      expect(play.first!.recap.changed).toBeGreaterThanOrEqual(2);
      expect(report.exports.first).toContain('# from /etc/cgwarden/policy.d/50-fleet-web.toml:3\n[[lock]]\npath = "/fleet.slice/*.service"');
      expect(report.exports.first).toContain('# from /etc/cgwarden/policy.d/60-fleet-raw.toml:2\n[[lock]]\npath = "/fleet-raw.slice"');
      // Again, the same variables: nothing changes.
      expect({ exit: play.again!.exitCode, changed: play.again!.recap.changed }).toEqual({ exit: 0, changed: 0 });
      expect(report.exports.again).toBe(report.exports.first);
      // A drop-in made to conflict with policy.toml, and a new one: the play fails with cgwarden's line; everything is as it was.
      why = refused("bad", "first", '/etc/cgwarden/policy.d/50-fleet-web.toml:4: lock[0].path: \\"/system.slice/**/*.service\\" is locked differently in /etc/cgwarden/policy.toml:');
      // state: absent takes a drop-in's rules out of force.
      expect({ exit: play.absent!.exitCode, failed: play.absent!.recap.failed }).toEqual({ exit: 0, failed: 0 });
      expect(play.absent!.recap.changed).toBeGreaterThanOrEqual(1);
      expect(report.exports.absent).not.toContain("/fleet-raw.slice");
      expect(report.exports.absent).toContain('path = "/fleet.slice/*.service"');
      expect(report.dropIns.absent?.split("\n")[0]).toBe("50-fleet-web.toml");
    } catch (e) {
      dump();
      throw e;
    } finally {
      rmSync("/etc/cgwarden/policy.d/50-fleet-web.toml", { force: true });
      cgw("apply /etc/cgwarden");
    }
    say("fleet", `ansible-core over SSH to 127.0.0.1: first play ${summary("first")}; again ${summary("again")}; bad drop-in ${summary("bad")}: ${why.slice(0, 220)}; policy and drop-ins as they were; state: absent ${summary("absent")}`);
  }, 1_200_000);

  test("at the end the machine is running, and nothing the policy lets through was denied", () => {
    const state = sh("systemctl is-system-running --wait");
    const failed = ok("systemctl --failed --no-legend --plain");
    const denied = records().filter((r) => r.verdict === "denied");
    // What the example lets through: PID 1 moving a login service's child into a session scope.
    const loginPaths = /^\/system\.slice\/(ssh\.service|console-getty\.service|system-(getty|serial\\x2dgetty|container\\x2dgetty)\.slice\/)/;
    const wronglyDenied = denied.filter((r) => r.actor.comm === "systemd" && loginPaths.test((r as AuditRecord & { src: { path: string | null } }).src?.path ?? ""));
    expect(wronglyDenied).toEqual([]);
    expect({ state: state.out, failed }).toEqual({ state: "running", failed: "" });
    const by = [...new Set(denied.map((r) => r.actor.comm))].sort().join(", ");
    say("the end", `is-system-running: ${state.out}; ${denied.length} denials in the records, by ${by || "nobody"}, none of PID 1 moving a login service's process`);
  });
});
