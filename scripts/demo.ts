#!/usr/bin/env bun
// Boots a guest kernel and runs scripts/demo-guest.sh in it with the compiled binary.
//   bun scripts/demo.ts [--kernel debian-6.12|debian-6.1|hook-6.12]
import { resolve } from "node:path";
import { runInGuest } from "../test/vm/guest.ts";
import { ensureKernel, isKernelName, KERNEL_NAMES } from "../test/vm/kernels.ts";

const args = process.argv.slice(2);
const i = args.indexOf("--kernel");
const name = i >= 0 ? args[i + 1] : "debian-6.12";
if (!name || !isKernelName(name) || args.length !== (i >= 0 ? 2 : 0)) {
  console.error(`usage: bun scripts/demo.ts [--kernel ${KERNEL_NAMES.join("|")}]`);
  process.exit(2);
}
const kernel = await ensureKernel(name);
console.log(`booting ${kernel.description} under QEMU...`);
const r = await runInGuest({
  kernel,
  argv: ["bash", resolve(import.meta.dir, "demo-guest.sh")],
  env: { NO_COLOR: "1" },
  timeoutMs: 10 * 60_000,
  onOutput: (chunk) => process.stdout.write(chunk),
});
process.exitCode = r.exitCode;
