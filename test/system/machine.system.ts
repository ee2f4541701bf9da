// Issue "From boot": cgwarden on a real Debian machine with systemd as PID 1,
// installed as an admin installs it (test/system/installed.ts: install-files,
// examples/services-stay-put.toml as /etc/cgwarden/policy.toml, the unit
// enabled, the initramfs rebuilt with cgwarden's hook). Runs inside that
// machine as root, from cgwarden-run.service (test/system/run.ts boots it).
// CGWARDEN_SYSTEM_BOOT=second runs only the boot checks, on the machine
// booted again with a seal in its policy file; =dracut, the same from the
// initramfs dracut made; =unsupported, booted without the BPF LSM, and
// =lockdown, Debian 6.1 under lockdown=confidentiality (the verifier refuses
// the object), check that cgwarden stays out of the boot's way.
// One line per scenario: "system: SCENARIO: ok (...)".
import { describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";

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

interface Run {
  code: number;
  out: string;
  err: string;
}

function sh(script: string): Run {
  const p = Bun.spawnSync(["sh", "-c", script], { stdout: "pipe", stderr: "pipe", env: { ...process.env, NO_COLOR: "1" } });
  return { code: p.exitCode ?? -1, out: p.stdout.toString().trim(), err: p.stderr.toString().trim() };
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

describe.skipIf(UNSUPPORTED)(`boot on ${KERNEL}${SECOND ? " (second boot, sealed from the initramfs)" : DRACUT ? " (from dracut's initramfs)" : ""}`, () => {
  test("the system comes up: running, no failed unit", () => {
    const state = sh("systemctl is-system-running --wait");
    const failed = ok("systemctl --failed --no-legend --plain");
    expect({ state: state.out, failed }).toEqual({ state: "running", failed: "" });
    say("boot", `is-system-running: ${state.out}; systemctl --failed: empty`);
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
    // The mover tries from early boot (before cgwarden.service) until uptime 60 s.
    while (!readFileSync("/run/cgw-early-mover.log", "utf8").includes("done") && monotonicNow() < 90) await Bun.sleep(1000);
    const log = readFileSync("/run/cgw-early-mover.log", "utf8");
    const done = /done attempts (\d+) moved (\d+)/.exec(log);
    const first = Number(/^first ([\d.]+)/m.exec(log)?.[1] ?? Number.NaN);
    const unitStarted = Number(ok("systemctl show -P ExecMainStartTimestampMonotonic cgwarden.service")) / 1e6;
    expect(done).not.toBeNull();
    expect({ moved: Number(done![2]), attemptedBeforeTheUnit: first < unitStarted }).toEqual({ moved: 0, attemptedBeforeTheUnit: true });
    expect(Number(done![1])).toBeGreaterThan(2); // every 0.2 s until uptime 60 s: fewer on a loaded host
    expect(cgroupOf(Number(ok("systemctl show -P MainPID cgw-victim.service")))).toBe("/system.slice/cgw-victim.service");
    say("early boot", `${done![1]} attempts to move cgw-victim.service out from uptime ${first.toFixed(1)} s (cgwarden.service started at ${unitStarted.toFixed(1)} s), 0 moved`);
  }, 120_000);

  test.skipIf(!SECOND)("the seal in the policy file was in force before PID 1 started, and holds against root", () => {
    const status = JSON.parse(cgw("status --json"));
    expect(status.seal).toMatchObject({ sealed: true, managers: [{ exe: "/usr/lib/systemd/systemd", pid: null }] });
    const sealedAt = Date.parse(status.seal.sealedAt) / 1000;
    const bootedAt = Number(ok("date +%s")) - monotonicNow();
    const unitStarted = bootedAt + Number(ok("systemctl show -P ExecMainStartTimestampMonotonic cgwarden.service")) / 1e6;
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
      expect(log).toMatch(/cgwarden: \/etc\/cgwarden\/policy\.toml:\d+: lock\[1\]\.path: /);
      const status = JSON.parse(cgw("status --json"));
      expect(JSON.parse(cgw("rules --json")).rules.map((r: { path: string }) => r.path)).toContain("/system.slice/*.service");
      say("bad file", `unit failed: ${log.split("\n").find((l) => l.includes("lock[1].path"))}; still in force: the policy applied ${status.applied.at}`);
    } finally {
      writeFileSync("/etc/cgwarden/policy.toml", good);
      ok("systemctl restart cgwarden.service");
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

  test("systemd issue #22874: runuser -l in a service leaves it without cgwarden, stays with the policy", () => {
    sh("id cgwtest >/dev/null 2>&1 || useradd -m cgwtest");
    unit(
      "cgw-su.service",
      '[Service]\nType=oneshot\nExecStart=/bin/sh -c \'runuser -l cgwtest -c "cat /proc/self/cgroup > /tmp/cgw-su.cgroup"; echo "runuser exit $?"\'\n',
    );
    const run = () => {
      const since = ok("date +%s");
      sh("rm -f /tmp/cgw-su.cgroup");
      const t0 = Date.now();
      ok("systemctl start cgw-su");
      return {
        cgroup: ok("cat /tmp/cgw-su.cgroup").replace(/^0::/, ""),
        seconds: (Date.now() - t0) / 1000,
        out: ok(`journalctl -o cat -u cgw-su --since @${since}`),
        logind: ok(`journalctl -o cat -u systemd-logind --since @${since}`),
        pam: ok(`journalctl -o cat -t runuser --since @${since}`),
        pid1: ok(`journalctl -o cat _PID=1 --since @${since} | grep -i -e session -e scope || true`),
      };
    };
    // Without cgwarden's verdict: audit mode lets every move through and records it.
    cgw("mode audit");
    const free = run();
    cgw("mode enforce");
    const held = run();
    expect(free.cgroup).toMatch(/^\/user\.slice\/user-\d+\.slice\/session-\w+\.scope$/);
    expect(held.cgroup).toBe("/system.slice/cgw-su.service");
    expect(held.out).toContain("runuser exit 0");
    const quote = (s: string) => s.replace(/\n/g, " | ") || "nothing";
    say("#22874", `audit mode: the child went to ${free.cgroup} (${free.seconds.toFixed(1)} s); enforced: it stayed in ${held.cgroup} and the login went on, runuser exit 0 after ${held.seconds.toFixed(1)} s; runuser/PAM said: ${quote(held.pam)}; logind said: ${quote(held.logind)}; PID 1 said: ${quote(held.pid1)}`);
  });

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
      `[Service]\nType=oneshot\nDelegate=yes\nExecStart=/bin/sh -c 'S=/sys/fs/cgroup/system.slice/cgw-containers.service; mkdir -p $$S/supervisor; /bin/echo $$$$ > $$S/supervisor/cgroup.procs; echo "supervisor $?"; crun delete -f cgw1 2>/dev/null; (sleep 1.5; for d in $$S/*/; do basename $$d; done > /tmp/cgw-containers.ls) & crun --cgroup-manager=cgroupfs run --bundle ${bundle} cgw1; echo "crun exit $?"; /bin/echo $$$$ > /sys/fs/cgroup/user.slice/cgroup.procs; echo "reach out exit $?"'\n`,
    );
    // Moves within the service's subtree are locked too (not "in": systemd starts the service by moving into it);
    // the delegation lets the service's own processes make them, as Delegate=yes means. The service's
    // shell first moves itself into a leaf (cgroup v2 keeps processes out of inner cgroups), then crun
    // makes the container's cgroup beside it and starts the container in it.
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
