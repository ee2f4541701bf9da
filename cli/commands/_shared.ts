// Argument fragments shared by commands (strict parsing is _argv.ts's).
import type { ArgsDef } from "citty";
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
