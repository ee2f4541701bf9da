import { defineCommand } from "./_define.ts";
import { print, printJson } from "../output.ts";
import { readStatus } from "../pins/status.ts";
import { jsonArg, pinArgs, pinContext } from "./_shared.ts";
import { describeSeal } from "./_seal.ts";

export default defineCommand({
  meta: { name: "status", description: "Show whether cgwarden is loaded, how, and its counters" },
  args: { ...jsonArg, ...pinArgs },
  run({ args }) {
    const { pinDir } = pinContext(args);
    const s = readStatus(pinDir);
    if (args.json) return printJson({ ...s, seal: s.seal ? describeSeal(s.seal) : undefined });
    if (!s.loaded) return print(`cgwarden is not loaded (pin directory ${pinDir}); run 'cgwarden load'`);
    print(`loaded:     yes (pin directory ${s.pinDir})`);
    print(`mechanism:  ${s.mechanism} (${s.mechanismDetail})`);
    print(`lockdown:   ${s.lockdown ?? "the lockdown LSM is not active"}`);
    print(`version:    ${s.version} (object sha256 ${s.objectSha256?.slice(0, 16)})`);
    print(`mode:       ${s.globalMode}${s.globalMode === "audit" ? " (every lock audits; its own mode is kept)" : " (each lock in its own mode)"}`);
    print(`rules:      ${s.rules}`);
    const a = s.applied;
    const from = { initramfs: "from the initramfs", unit: "by cgwarden.service", command: "by hand" } as Record<string, string>;
    print(
      a
        ? `applied:    ${a.at} ${from[a.origin] ?? a.origin}, '${a.by}'${a.file ? ` of ${a.file} (sha256 ${a.sha256?.slice(0, 16)})` : ""}`
        : "applied:    nothing yet (no rule or setting was ever changed)",
    );
    print(describeSeal(s.seal!).text);
    const c = s.counters!;
    print(`decisions:  ${c.decisions} (allowed ${c.allowed}, denied ${c.denied}, audit-denied ${c.audited}, recorded ${c.recorded}, dropped ${c.dropped})`);
    print("programs:");
    const width = Math.max(0, ...(s.programs ?? []).map((p) => p.program.length));
    for (const p of s.programs ?? []) print(`  ${p.program.padEnd(width)} prog ${String(p.progId).padEnd(6)} link ${String(p.linkId).padEnd(6)} ${p.attachedTo}`);
  },
});

export const examples = [
  "cgwarden status",
  "cgwarden status --json",
];
