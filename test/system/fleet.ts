// The fleet scenario's host side: Ansible (Debian's ansible-core) drives the
// booted system image with the role in packaging/ansible, over SSH to a port
// QEMU forwards on the loopback address. The guest's side
// (machine.system.ts, "a fleet") brings its network up, authorizes the key
// written here, says it is ready, and judges what this side reports.
//
// The two talk through the share's out/ directory:
//   fleet_key.pub  this side -> guest: the key Ansible logs in with
//   fleet-ready    guest -> this side: sshd reachable, key authorized
//   fleet.json     this side -> guest: each play's exit, recap and output, and the machine as SSH saw it between plays
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT, runOkAsync, spawnAsync } from "../../scripts/project.ts";
import { buildDeb } from "../../scripts/deb.ts";

const PLAYBOOK = join(ROOT, "test/system/fleet/site.yml");
const ROLES = join(ROOT, "packaging/ansible/roles");
const READY_TIMEOUT_MS = 20 * 60_000;

/** What the guest reads from fleet.json. */
export interface FleetReport {
  plays: PlayResult[];
  /** `cgwarden export --sources` after each play, by its name. */
  exports: Record<string, string>;
  /** The drop-in directory's listing and digests after each play. */
  dropIns: Record<string, string>;
}
export interface PlayResult {
  name: string;
  exitCode: number;
  seconds: number;
  recap: Record<string, number>;
  output: string;
}

/** A free port on the loopback address, for QEMU's forward. */
export async function freeLoopbackPort(): Promise<number> {
  return await new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const port = (server.address() as { port: number }).port;
      server.close(() => resolve(port));
    });
  });
}

/** The drop-ins of each play: the role's variables, as an admin's inventory would hold them. */
const WEB = { name: "50-fleet-web", locks: [{ path: "/fleet.slice/*.service", directions: ["out"] }], allows: [{ path: "/fleet.slice/*.service", exe: "/usr/bin/true" }] };
const RAW = { name: "60-fleet-raw", content: '[[lock]]\npath = "/fleet-raw.slice"\nmode = "audit"\n' };
/** For the sealed machine: a drop-in only a manager may put in force. */
const SEALED = { name: "50-fleet-sealed", locks: [{ path: "/fleet-sealed.slice" }] };
/** Restates policy.toml's lock of every service with another mode: a conflict, refused with both files named. */
const CONFLICT = { name: "50-fleet-web", locks: [{ path: "/system.slice/**/*.service", mode: "audit" }] };
const NEW_BAD = { name: "70-fleet-new", locks: [{ path: "/fleet-new.slice" }] };

/**
 * The plays of each scenario: "first", on the machine as installed;
 * "sealed", on the second boot's machine, sealed with PID 1's binary as its
 * manager, where only the role's `cgwarden_apply_as: pid1` may change it.
 */
export type FleetScenario = "first" | "sealed";

export async function fleetAlongside(scenario: FleetScenario, out: string, sshPort: number, guestDone: Promise<void>): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), "cgwarden-fleet-"));
  try {
    const key = join(work, "id_ed25519");
    await runOkAsync(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "cgwarden-fleet", "-f", key]);
    writeFileSync(join(out, "fleet_key.pub"), readFileSync(`${key}.pub`));
    // The guest may never get there (an earlier scenario failed): then there is nothing to do here.
    const ready = await Promise.race([waitFor(join(out, "fleet-ready"), READY_TIMEOUT_MS).then(() => true), guestDone.then(() => false)]);
    if (!ready) return;

    const inventory = join(work, "inventory");
    writeFileSync(
      inventory,
      `machine ansible_host=127.0.0.1 ansible_port=${sshPort} ansible_user=root ansible_ssh_private_key_file=${key} ansible_python_interpreter=/usr/bin/python3 ` +
        `ansible_ssh_common_args='-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR'\n`,
    );
    const env = {
      ANSIBLE_ROLES_PATH: ROLES,
      ANSIBLE_HOME: join(work, "ansible"),
      ANSIBLE_LOCAL_TEMP: join(work, "tmp"),
      ANSIBLE_SSH_CONTROL_PATH_DIR: join(work, "cp"),
      ANSIBLE_NOCOLOR: "1",
      ANSIBLE_PIPELINING: "1",
      ANSIBLE_RETRY_FILES_ENABLED: "0",
      ANSIBLE_TIMEOUT: "60",
    };
    // Asynchronous, but for buildDeb's few seconds: the test runner's event loop also drains the guests' consoles.
    const ssh = async (command: string) =>
      (await spawnAsync(["ssh", "-p", String(sshPort), "-i", key, "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR", "-o", "BatchMode=yes", "root@127.0.0.1", command])).out;
    const report: FleetReport = { plays: [], exports: {}, dropIns: {} };
    /** The policy in force and the drop-ins, as SSH sees them now. */
    const snapshot = async (name: string) => {
      report.exports[name] = await ssh("cgwarden export --sources");
      report.dropIns[name] = await ssh("cd /etc/cgwarden/policy.d && ls -A && sha256sum -- * 2>/dev/null");
    };
    const play = async (name: string, vars: Record<string, unknown>) => {
      const varsFile = join(work, `${name}.json`);
      writeFileSync(varsFile, JSON.stringify(vars));
      const t0 = Date.now();
      const r = await spawnAsync(["ansible-playbook", "-i", inventory, "-e", `@${varsFile}`, PLAYBOOK], { env });
      const output = `${r.out}\n${r.err}`;
      const recapLine = /^machine\s+:\s+(.*)$/m.exec(output)?.[1] ?? "";
      const recap = Object.fromEntries([...recapLine.matchAll(/(\w+)=(\d+)/g)].map((m) => [m[1]!, Number(m[2])]));
      report.plays.push({ name, exitCode: r.code, seconds: (Date.now() - t0) / 1000, recap, output: output.slice(-6000) });
      await snapshot(name);
    };
    await snapshot("before");
    if (scenario === "first") {
      const deb = buildDeb({ out: work });
      await play("first", { cgwarden_deb: deb, cgwarden_drop_ins: [WEB, RAW] });
      await play("again", { cgwarden_deb: deb, cgwarden_drop_ins: [WEB, RAW] });
      // A drop-in rewritten into a conflict and a new one beside it: refused, both put back as they were.
      await play("bad", { cgwarden_drop_ins: [CONFLICT, RAW, NEW_BAD] });
      await play("absent", { cgwarden_drop_ins: [WEB, { name: RAW.name, state: "absent" }] });
    } else {
      // root over SSH is no manager: refused, the new drop-in taken away again.
      await play("refused", { cgwarden_drop_ins: [SEALED] });
      await play("pid1", { cgwarden_drop_ins: [SEALED], cgwarden_apply_as: "pid1" });
    }
    writeFileSync(join(out, "fleet.json"), JSON.stringify(report));
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

async function waitFor(file: string, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!existsSync(file)) {
    if (Date.now() > until) throw new Error(`${file} did not appear within ${timeoutMs / 60_000} minutes`);
    await Bun.sleep(500);
  }
}
