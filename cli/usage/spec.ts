// What every command accepts, read from the citty definitions themselves, so
// help, completions and the man page cannot drift from what the parser takes.
// The registry hands the definitions in (commands/_specs.ts): usage sits
// below the commands it describes and imports none of them.
import type { ArgDef, CommandDef } from "citty";

export interface OptionSpec {
  name: string;
  alias: string[];
  takesValue: boolean;
  description: string;
  valueHint?: string;
  /** Fixed choices, as the argument table declares them (`options`). */
  choices: readonly string[];
}

export interface CommandSpec {
  name: string;
  description: string;
  positionals: Array<{ name: string; required: boolean; description: string; choices: readonly string[] }>;
  options: OptionSpec[];
  examples: readonly string[];
}

/** The declared choices (commands/_define.ts: options and positionals alike). */
const choicesOf = (d: ArgDef): readonly string[] => (d as { options?: readonly string[] }).options ?? [];

function optionSpec(name: string, d: ArgDef): OptionSpec {
  const hint = "valueHint" in d ? d.valueHint : undefined;
  return {
    name,
    alias: ["alias" in d && d.alias ? [d.alias].flat() : []].flat(),
    takesValue: d.type !== "boolean",
    description: d.description ?? "",
    valueHint: hint,
    choices: choicesOf(d),
  };
}

/** One command's spec from its module: the citty definition and its --help examples. */
export function specOfCommand(name: string, mod: { default: unknown; examples: readonly string[] }): CommandSpec {
  const def = mod.default as CommandDef;
  const meta = (def.meta ?? {}) as { description?: string };
  const args = Object.entries((def.args ?? {}) as Record<string, ArgDef>);
  return {
    name,
    description: meta.description ?? "",
    positionals: args
      .filter(([, d]) => d.type === "positional")
      .map(([n, d]) => ({ name: ("valueHint" in d && d.valueHint) || n.toUpperCase(), required: !!d.required, description: d.description ?? "", choices: choicesOf(d) })),
    options: args.filter(([, d]) => d.type !== "positional").map(([n, d]) => optionSpec(n, d)),
    examples: mod.examples,
  };
}
