// Every command's spec, from the registry: what completions, cgwarden(8) and
// install-files write (cli/usage/ turns a definition into a spec).
import { specOfCommand, type CommandSpec } from "../usage/spec.ts";
import { commandModules, type CommandName } from "./index.ts";

export async function commandSpecs(): Promise<CommandSpec[]> {
  const specs: CommandSpec[] = [];
  for (const [name, load] of Object.entries(commandModules) as Array<[CommandName, (typeof commandModules)[CommandName]]>) specs.push(specOfCommand(name, await load()));
  return specs;
}
