#!/usr/bin/env bun
// Benchmarks inside a guest kernel; prints figures, asserts nothing.
//   bun test/bench/run.ts [--kernel debian-6.12|debian-6.1|hook-6.12]
import { resolve } from "node:path";
import { runInGuest } from "../vm/guest.ts";
import { ensureKernel, isKernelName, KERNEL_NAMES } from "../vm/kernels.ts";

const ROOT = resolve(import.meta.dir, "../..");
const args = process.argv.slice(2);
const name = args[0] === "--kernel" ? args[1] : "debian-6.12";
if (!name || !isKernelName(name)) {
  console.error(`usage: bun test/bench/run.ts [--kernel ${KERNEL_NAMES.join("|")}]`);
  process.exit(2);
}
for (const [argv, what] of [
  [[process.execPath, "scripts/build.ts"], "build"],
  [["cc", "-O2", "-o", "dist/test/hotpath", "test/bench/hotpath.c"], "hotpath"],
] as const) {
  if (Bun.spawnSync([...argv], { cwd: ROOT, stdout: "inherit", stderr: "inherit" }).exitCode !== 0) throw new Error(`${what} failed`);
}
const r = await runInGuest({
  kernel: await ensureKernel(name),
  argv: [process.execPath, "test/bench/guest.ts"],
  env: { CGWARDEN_TEST_KERNEL: name, NO_COLOR: "1" },
  timeoutMs: 30 * 60_000,
  onOutput: (c) => process.stdout.write(c),
});
process.exitCode = r.exitCode;
