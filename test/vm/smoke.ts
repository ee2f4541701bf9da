#!/usr/bin/env bun
// Harness self-check: boot every kernel in the matrix (or those named on
// the command line) and confirm the guest looks the way the tests assume.
//   bun test/vm/smoke.ts [debian-6.1 debian-6.12 hook-6.12]

import { runInGuest } from "./guest.ts";
import { ensureKernel, isKernelName, KERNEL_NAMES, type KernelName } from "./kernels.ts";
import { ensureDebs } from "./util.ts";
import { ROOT } from "../../scripts/project.ts";

// One guest command per kernel (process starts are slow under TCG); each
// probe prints KEY=VALUE so the host can check them.
const PROBE = `
echo "uname=$(uname -r)"
echo "bpffs_premounted=$(grep -c ' /sys/fs/bpf ' /proc/mounts)"
echo "securityfs_premounted=$(grep -c ' /sys/kernel/security ' /proc/mounts)"
echo "cgroup1_mounts=$(grep -c ' cgroup ' /proc/mounts)"
echo "cgroup2_mounted=$(grep -c ' /sys/fs/cgroup cgroup2 ' /proc/mounts)"
lsm=$(cat /sys/kernel/security/lsm 2>/dev/null || (mount -t securityfs none /sys/kernel/security && cat /sys/kernel/security/lsm))
echo "lsm=$lsm"
echo "bun=$(${ROOT}/node_modules/.bin/bun -e 'console.log(Bun.version)')"
echo "hook_btf=$(bpftool btf dump file /sys/kernel/btf/vmlinux | grep -c bpf_lsm_cgroup_attach)"
echo "root_writable=$(touch ${ROOT}/.guest-write-test 2>/dev/null && echo yes || echo no)"
`;

interface Check {
  key: string;
  ok: (v: string) => boolean;
  want: string;
}

function checks(hook: boolean): Check[] {
  return [
    { key: "bpffs_premounted", ok: (v) => v === "0", want: "0 (the product mounts bpffs)" },
    { key: "securityfs_premounted", ok: (v) => v === "0", want: "0 (the product mounts securityfs)" },
    { key: "cgroup1_mounts", ok: (v) => v === "0", want: "0 (no cgroup v1)" },
    { key: "cgroup2_mounted", ok: (v) => v === "1", want: "1" },
    { key: "lsm", ok: (v) => v.split(",").includes("bpf"), want: "a list including bpf" },
    { key: "bun", ok: (v) => /^\d+\.\d+\.\d+/.test(v), want: "a Bun version" },
    { key: "hook_btf", ok: (v) => (hook ? Number(v) > 0 : v === "0"), want: hook ? "> 0" : "0" },
    { key: "root_writable", ok: (v) => v === "no", want: "no (host / is read-only)" },
  ];
}

async function smoke(name: KernelName): Promise<boolean> {
  const kernel = await ensureKernel(name);
  const r = await runInGuest({ kernel, argv: ["sh", "-c", PROBE], timeoutMs: 180_000 });
  const values = new Map<string, string>();
  for (const line of r.output.split("\n")) {
    const eq = line.indexOf("=");
    if (eq > 0) values.set(line.slice(0, eq), line.slice(eq + 1));
  }
  let ok = r.exitCode === 0;
  const lines = [`${name} (${kernel.description}): uname ${values.get("uname")}, boot ${(r.bootMs / 1000).toFixed(1)} s, total ${(r.durationMs / 1000).toFixed(1)} s`];
  for (const c of checks(kernel.hasCgroupAttachHook)) {
    const v = values.get(c.key) ?? "(missing)";
    const good = c.ok(v);
    ok &&= good;
    lines.push(`  ${good ? "ok  " : "FAIL"} ${c.key}=${v}${good ? "" : ` (want ${c.want})`}`);
  }
  console.log(lines.join("\n"));
  if (!ok) console.log(`--- guest output ---\n${r.output}\n--- console ---\n${r.consoleTail}`);
  return ok;
}

const wanted = process.argv.slice(2);
for (const w of wanted) {
  if (!isKernelName(w)) {
    console.error(`unknown kernel ${w}; known: ${KERNEL_NAMES.join(" ")}`);
    process.exit(2);
  }
}
await ensureDebs(["bpftool"]);
let allOk = true;
for (const name of wanted.length > 0 ? (wanted as KernelName[]) : KERNEL_NAMES) {
  try {
    allOk = (await smoke(name)) && allOk;
  } catch (e) {
    console.log(`${name}: FAIL ${(e as Error).message}`);
    allOk = false;
  }
}
process.exit(allOk ? 0 : 1);
