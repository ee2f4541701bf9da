// Argument fragments shared by commands, and strict parsing: citty accepts
// unknown flags silently, an admin's typo must not be ignored.
import type { ArgsDef, CittyPlugin, CommandContext } from "citty";
import { UsageError } from "../errors.ts";
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

/** A citty plugin that rejects flags and positionals the command does not declare. */
export const strictArgs: CittyPlugin = {
  name: "strict-args",
  setup(ctx: CommandContext<ArgsDef>) {
    const def = (ctx.cmd.args ?? {}) as ArgsDef;
    // flag or alias -> [canonical name, type]
    const known = new Map<string, [string, string]>();
    for (const [name, d] of Object.entries(def)) {
      if (d.type === "positional") continue;
      known.set(name, [name, d.type ?? "string"]);
      for (const a of ["alias" in d ? (d.alias ?? []) : []].flat()) known.set(a, [name, d.type ?? "string"]);
      if (d.type === "boolean") known.set(`no-${name}`, [name, "boolean"]);
    }
    // citty keeps the last of repeated values; a repeated selector is a mistake to report, not to drop.
    const seen = new Map<string, number>();
    const positionals = Object.values(def).filter((d) => d.type === "positional").length;
    let seenPositionals = 0;
    const raw = ctx.rawArgs;
    for (let i = 0; i < raw.length; i++) {
      const tok = raw[i]!;
      if (tok === "--") {
        seenPositionals += raw.length - i - 1;
        break;
      }
      if (tok.startsWith("-") && tok !== "-") {
        const name = tok.replace(/^--?/, "").split("=")[0]!;
        const entry = known.get(name) ?? known.get(camelToKebab(name));
        if (!entry) throw new UsageError(`unknown option ${tok.split("=")[0]}; see '--help'`);
        const [canonical, type] = entry;
        const times = (seen.get(canonical) ?? 0) + 1;
        seen.set(canonical, times);
        if (type !== "boolean" && times > 1)
          throw new UsageError(`--${canonical} given ${times} times; selectors in one rule must all match, so give separate rules for alternatives`);
        if (type !== "boolean" && !tok.includes("=")) {
          const value = raw[i + 1];
          if (value === undefined || (value.startsWith("-") && value !== "-"))
            throw new UsageError(`option ${tok} needs a value`);
          i++;
        }
        continue;
      }
      seenPositionals++;
    }
    const variadic = Object.values(def).some((d) => d.type === "positional" && (d as { variadic?: boolean }).variadic);
    if (!variadic && seenPositionals > positionals)
      throw new UsageError(`unexpected argument ${raw.filter((t) => !t.startsWith("-"))[positionals] ?? ""}; see '--help'`);
  },
};

function camelToKebab(s: string): string {
  return s.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}
