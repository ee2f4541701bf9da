// citty's defineCommand is the identity function, and so is this one; taking
// it from here keeps citty itself out of a command's run: main.ts parses
// with _argv.ts and calls run(), and only --help loads citty, to render.
import type { ArgsDef, CommandDef } from "citty";

export function defineCommand<const T extends ArgsDef = ArgsDef>(def: CommandDef<T>): CommandDef<T> {
  return def;
}
