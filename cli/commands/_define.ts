// citty's defineCommand is the identity function, and so is this one; taking
// it from here keeps citty itself out of a command's run: main.ts parses
// with _argv.ts and calls run(), and only --help loads citty, to render.
//
// cgwarden's argument tables say two more things than citty's do, and
// _argv.ts checks both, once, for every command: `options`, the fixed
// choices of an option or a positional (citty declares them for options
// only), and `repeatable`, an option that may be given more than once.
// --help, completions and the man page read the same declarations.
import type { ArgsDef, CommandDef } from "citty";

/** The extras an argument may declare beside citty's fields. */
export interface ArgExtras {
  options?: readonly string[];
  repeatable?: boolean;
}

export function defineCommand<const T extends ArgsDef = ArgsDef>(def: CommandDef<T>): CommandDef<T> {
  // The value hint of fixed choices is the choices themselves ("enforce|audit"), unless one is given.
  for (const d of Object.values((def.args ?? {}) as Record<string, ArgExtras & { valueHint?: string }>))
    if (d.options && !d.valueHint) d.valueHint = d.options.join("|");
  return def;
}

/** An argument's extras, from a declaration of citty's type. */
export function extrasOf(d: unknown): ArgExtras {
  return d as ArgExtras;
}
