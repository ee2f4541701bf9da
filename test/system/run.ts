#!/usr/bin/env bun
// The system scenarios (test/system/machine.system.ts) on one kernel: the
// machine installed from the Debian package, booted four times; the second
// (sealed, and upgraded to a rebuilt package) and third (from dracut's
// initramfs) only to see the policy come back from the boot files, the
// fourth after `apt purge` to see nothing of cgwarden come back. Used by test/run.ts; by hand:
//   bun test/system/run.ts --kernel debian-6.12 [--boot first|second|dracut|purged|keyed|unsupported|lockdown]
import { join } from "node:path";
import { boot, systemKernel, type SystemKernelName } from "./boot.ts";
import { ensureInstalledImage, UPGRADE_VERSION, type PackageStage } from "./installed.ts";
import { fleetAlongside, freeLoopbackPort } from "./fleet.ts";
import { bunCounts, bunFailures } from "../vm/bun-output.ts";
import { ROOT } from "../../scripts/project.ts";

const BUN = join(ROOT, "node_modules/.bin/bun");
const SUITE = "./test/system/machine.system.ts";
const BOOT_TIMEOUT_MS = 20 * 60_000;

export interface SystemTally {
  passed: number;
  failed: number;
  note: string;
  /** Each failed test as bun printed it, its boot named. */
  failures: string[];
}

/**
 * The boots on `kernel`: the scenarios; the machine again with the seal in
 * its policy file and the package upgraded; again from dracut's initramfs;
 * after the package is purged; on debian-6.12, once key-sealed with
 * the policy edited by root since, and once without the BPF LSM; on debian-6.1, once under lockdown=confidentiality. bun's own
 * pass and fail counts, summed.
 */
export async function systemScenarios(kernel: SystemKernelName, only?: string): Promise<SystemTally> {
  const k = await systemKernel(kernel);
  const tally: SystemTally = { passed: 0, failed: 0, note: "", failures: [] };
  const notes: string[] = [];
  const boots: Array<{ which: string; sealed: boolean; keyed?: boolean; stage: PackageStage; kernelArgs: string[] }> = [
    { which: "first", sealed: false, stage: "installed", kernelArgs: [] },
    { which: "second", sealed: true, stage: "upgraded", kernelArgs: [] },
    // The same machine from dracut's initramfs instead of initramfs-tools'.
    { which: "dracut", sealed: false, stage: "installed", kernelArgs: [] },
    // apt purge cgwarden: nothing of it in the next boot, and the machine does not mind.
    { which: "purged", sealed: false, stage: "purged", kernelArgs: [] },
    // Key-sealed from the initramfs, after root edited the signed policy: the boot applies the signed copy it carries.
    ...(kernel === "debian-6.12" ? [{ which: "keyed", sealed: false, keyed: true, stage: "installed" as const, kernelArgs: [] }] : []),
    // The BPF LSM left out: cgwarden cannot enforce, and the boot must not mind.
    ...(kernel === "debian-6.12" ? [{ which: "unsupported", sealed: false, stage: "installed" as const, kernelArgs: ["lsm=lockdown,capability"] }] : []),
    // 6.1 under lockdown=confidentiality: the verifier refuses the object (no bpf_rdonly_cast), and the boot must not mind.
    ...(kernel === "debian-6.1" ? [{ which: "lockdown", sealed: false, stage: "installed" as const, kernelArgs: ["lockdown=confidentiality"] }] : []),
  ];
  for (const { which, sealed, keyed, stage, kernelArgs } of boots.filter((b) => !only || b.which === only)) {
    const image = await ensureInstalledImage({ sealed, keyed, stage });
    // Every kernel boots an initramfs the image made, with cgwarden's hook or dracut module in it.
    const initrds = which === "dracut" ? image.dracutInitrds : image.initrds;
    const initrd = kernel === "hook-6.12" ? initrds.builtin : initrds[kernel];
    // The first and the sealed boot are also driven from here, as a fleet's machines are: Ansible over SSH (fleet.ts).
    const fleet = which === "first" ? "first" : which === "second" ? "sealed" : null;
    const sshPort = fleet ? await freeLoopbackPort() : undefined;
    const r = await boot({
      ...(fleet && sshPort ? { sshPort, alongside: (out: string, guestDone: Promise<void>) => fleetAlongside(fleet, out, sshPort, guestDone) } : {}),
      kernel: { ...k, initrd },
      disk: image.disk,
      argv: [BUN, "test", "--timeout", "300000", SUITE],
      env: { CGWARDEN_TEST_KERNEL: kernel, CGWARDEN_SYSTEM_BOOT: which, CGWARDEN_UPGRADE_VERSION: UPGRADE_VERSION, NO_COLOR: "1" },
      timeoutMs: BOOT_TIMEOUT_MS,
      memoryMiB: 1536,
      kernelArgs,
    });
    process.stdout.write(r.output);
    const counts = bunCounts(r.output) ?? { passed: 0, failed: r.exitCode === 0 ? 0 : 1 };
    tally.passed += counts.passed;
    tally.failed += counts.failed || (r.exitCode !== 0 && counts.passed === 0 ? 1 : 0);
    tally.failures.push(...bunFailures(r.output).map((f) => `(the ${which} boot)\n${f}`));
    notes.push(`${which} boot ${(r.bootMs / 1000).toFixed(0)} s, total ${(r.durationMs / 1000).toFixed(0)} s`);
    if (r.exitCode !== 0) console.log(`--- journal of the ${which} boot (tail) ---\n${r.journal.split("\n").slice(-80).join("\n")}`);
  }
  tally.note = notes.join("; ");
  return tally;
}

if (import.meta.main) {
  const i = process.argv.indexOf("--kernel");
  const kernel = (process.argv[i + 1] ?? "debian-6.12") as SystemKernelName;
  const b = process.argv.indexOf("--boot");
  const t = await systemScenarios(kernel, b > 0 ? process.argv[b + 1] : undefined);
  if (t.failures.length) console.log(`\nfailed tests (as bun printed them above):\n${t.failures.join("\n\n")}`);
  console.log(`system ${kernel}: ${t.passed} passed, ${t.failed} failed (${t.note})`);
  process.exitCode = t.failed ? 1 : 0;
}
