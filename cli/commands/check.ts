import { defineCommand } from "./_define.ts";
import { assessKernel, type CheckItem } from "../kernel/readiness.ts";
import { print, printJson } from "../output.ts";
import { EXIT_OK, EXIT_RUNTIME } from "../errors.ts";
import { jsonArg, pinArgs, pinContext } from "./_shared.ts";
import { describeManagers, readSeal } from "../pins/state.ts";

const MARK: Record<CheckItem["state"], string> = { ok: "ok  ", fail: "FAIL", warn: "warn", info: "info" };

export default defineCommand({
  meta: { name: "check", description: "Report whether this kernel can enforce, and by which mechanism" },
  args: { ...jsonArg, ...pinArgs },
  async run({ args }) {
    const { pinDir } = pinContext(args);
    const r = await assessKernel();
    // A seal with --lock-bpf refuses cgwarden's own probe programs to anyone but its managers.
    const seal = r.mechanism ? null : safeSeal(pinDir);
    if (seal?.sealed && seal.lockBpf)
      r.items.push({ id: "seal", state: "info", summary: `the policy at ${pinDir} is sealed with --lock-bpf: only its managers (${describeManagers(seal)}) may load LSM and trampoline programs, so 'load' fails above for anyone else; run check from a manager` });
    const exitCode = r.mechanism ? EXIT_OK : EXIT_RUNTIME;
    if (args.json) {
      printJson({
        canEnforce: !!r.mechanism,
        mechanism: r.mechanism?.name ?? null,
        reason: r.reason ?? null,
        fix: r.fix ?? null,
        items: r.items,
      });
      return { exitCode };
    }
    for (const item of r.items) {
      print(`${MARK[item.state]}  ${item.id.padEnd(15)} ${item.summary}`);
      if (item.fix && item.state !== "ok") print(`      ${"".padEnd(15)} fix: ${item.fix}`);
    }
    print(
      r.mechanism
        ? `verdict: can enforce, using the ${r.mechanism.name} mechanism: ${r.mechanism.describe}`
        : `verdict: cannot enforce on this kernel: ${r.reason}${r.fix ? `; fix: ${r.fix}` : ""}`,
    );
    return { exitCode };
  },
});

function safeSeal(pinDir: string) {
  try {
    return readSeal(pinDir);
  } catch {
    return null;
  }
}

export const examples = [
  "cgwarden check            # exit 0 only if this kernel can enforce",
  "cgwarden check --json | jq .mechanism",
];
