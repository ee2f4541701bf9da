// Argument fragments shared by commands (strict parsing is _argv.ts's).
import type { ArgsDef } from "citty";
import { setLibbpfVerbose } from "../libbpf/index.ts";
import { resolvePinDir } from "../pins/paths.ts";
import { useAuthorization } from "../pins/authorize.ts";
import { UsageError } from "../errors.ts";
import { readSmallInput } from "./_policy-text.ts";

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
  "authorize-with": {
    type: "string",
    description: "On a key-sealed policy: a shell command that gets this process's challenge on its standard input and writes the key's signature of it (PKCS#7/CMS, DER or PEM) on its standard output",
    valueHint: "COMMAND",
  },
  authorization: {
    type: "string",
    description: "On a key-sealed policy: show this process's challenge, then read its signature from FILE (- for standard input)",
    valueHint: "FILE",
  },
} as const satisfies ArgsDef;

export interface PinContext {
  pinDir: string;
}

export function pinContext(args: { "pin-dir"?: string; verbose?: boolean; "authorize-with"?: string; authorization?: string }): PinContext {
  setLibbpfVerbose(!!args.verbose);
  if (args["authorize-with"] !== undefined && args.authorization !== undefined) throw new UsageError("give --authorize-with or --authorization, not both");
  useAuthorization(
    args["authorize-with"] !== undefined
      ? { kind: "command", command: args["authorize-with"] }
      : args.authorization !== undefined
        ? { kind: "input", file: args.authorization, read: (f) => readSmallInput(f, "an authorization", 64 << 10) }
        : null,
  );
  return { pinDir: resolvePinDir(args["pin-dir"]) };
}
