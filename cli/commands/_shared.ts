// Argument fragments shared by commands, and strict parsing: citty accepts
// unknown flags silently, an admin's typo must not be ignored.
import type { ArgsDef, CittyPlugin, CommandContext } from "citty";
import { checkArgv } from "./_argv.ts";
import { setLibbpfVerbose } from "../libbpf/index.ts";
import { resolvePinDir } from "../pins/paths.ts";

export const jsonArg = {
  json: { type: "boolean", description: "Print machine-readable JSON" },
} as const satisfies ArgsDef;

export const pinArgs = {
  "pin-dir": {
    type: "string",
    description: "bpffs directory of cgwarden's pins (env CGWARDEN_PIN_DIR)",
    valueHint: "/sys/fs/bpf/cgwarden",
  },
  verbose: { type: "boolean", alias: "v", description: "Show libbpf's log, verifier output included" },
} as const satisfies ArgsDef;

export interface PinContext {
  pinDir: string;
}

export function pinContext(args: { "pin-dir"?: string; verbose?: boolean }): PinContext {
  setLibbpfVerbose(!!args.verbose);
  return { pinDir: resolvePinDir(args["pin-dir"]) };
}

/** A citty plugin that rejects flags and positionals the command does not declare (see _argv.ts). */
export const strictArgs: CittyPlugin = {
  name: "strict-args",
  setup(ctx: CommandContext<ArgsDef>) {
    const meta = ctx.cmd.meta as { name?: string } | undefined;
    checkArgv(meta?.name ?? "", (ctx.cmd.args ?? {}) as ArgsDef, ctx.rawArgs);
  },
};
