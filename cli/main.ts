#!/usr/bin/env bun
// Entry point: lazy subcommands, exact exit codes, one-line errors.
//
// Commands are citty definitions, but citty itself is imported only to
// render --help: it decides at import time whether to print colour, and its
// parser loads node:util, which no command needs (see commands/_argv.ts).
import { fstatSync } from "node:fs";
import type { ArgsDef, CommandDef } from "citty";
import { CliError, EXIT_USAGE, errorJson, exitCodeOf, formatError, shown } from "./errors.ts";
import { VERSION } from "./version.ts";
import { note, print, printJson } from "./output.ts";
import { parseArgv, looksLikeOption } from "./commands/_argv.ts";
import { commandModules, type CommandName } from "./commands/index.ts";

export const commands = Object.fromEntries(
  Object.entries(commandModules).map(([name, load]) => [name, () => load().then((m) => m.default as CommandDef)]),
) as Record<CommandName, () => Promise<CommandDef>>;

export const main: CommandDef = {
  meta: { name: "cgwarden", version: VERSION, description: "Decide who may move processes between cgroup v2 cgroups" },
  subCommands: commands,
};

/**
 * citty decides on colour when its module is first evaluated: so this runs
 * just before it loads (to render --help; nothing else prints colour). NO_COLOR
 * is honoured as the convention says (any non-empty value), and pipes and
 * files never get escapes. A character device stands for a terminal (one
 * fstat, where isatty() would load node:tty): the only other one stdout
 * meets is /dev/null, where colour harms nobody.
 */
function plainUnlessTerminal(): void {
  if (process.env.NO_COLOR || !stdoutIsCharacterDevice()) process.env.NO_COLOR = "1";
}

function stdoutIsCharacterDevice(): boolean {
  try {
    return fstatSync(1).isCharacterDevice();
  } catch {
    return false;
  }
}

const loadCitty = () => {
  plainUnlessTerminal();
  return import("citty");
};

async function showHelp(cmd: CommandDef, parent?: CommandDef, examples: readonly string[] = []): Promise<void> {
  print(await (await loadCitty()).renderUsage(cmd, parent));
  if (examples.length) print(["EXAMPLES", "", ...examples.map((e) => `  ${e}`), ""].join("\n"));
}

/** Runs the CLI with `argv` and returns the exit code; never calls process.exit. */
export async function runCli(argv: string[]): Promise<number> {
  if (argv.length === 1 && (argv[0] === "--version" || argv[0] === "-V")) {
    print(VERSION);
    return 0;
  }
  if (argv.length === 0 || argv[0] === "--help" || argv[0] === "-h") {
    await showHelp(main, undefined, MAIN_EXAMPLES);
    return argv.length === 0 ? EXIT_USAGE : 0;
  }
  const name = argv[0]!;
  if (!Object.hasOwn(commands, name)) {
    if (looksLikeOption(name)) {
      note(formatError(new CliError({ problem: `unknown option ${shown(name)} before the command`, fix: `usage: cgwarden COMMAND [options] (see 'cgwarden --help')` })));
      return EXIT_USAGE;
    }
    note(formatError(new CliError({ problem: `unknown command '${shown(name)}'`, fix: `commands: ${Object.keys(commands).join(", ")}` })));
    return EXIT_USAGE;
  }
  const mod = await commandModules[name as CommandName]();
  const cmd = mod.default as CommandDef;
  const rest = argv.slice(1);
  if (rest.includes("--help") || rest.includes("-h")) {
    await showHelp(cmd, main, mod.examples);
    return 0;
  }
  try {
    // Parsed here, strictly (_argv.ts), not by citty's runCommand: same arguments, no citty at run time.
    const args = parseArgv(name, (cmd.args ?? {}) as ArgsDef, rest);
    const result = await cmd.run?.({ rawArgs: rest, args: args as never, cmd });
    return (result as { exitCode?: number } | undefined)?.exitCode ?? 0;
  } catch (err) {
    // Asked for JSON (the command takes --json, and it was given as such): the error is JSON too, on stdout.
    const json = "json" in (cmd.args ?? {}) && rest.slice(0, rest.includes("--") ? rest.indexOf("--") : undefined).includes("--json");
    if (json) printJson(errorJson(err));
    else note(formatError(err));
    return exitCodeOf(err);
  }
}

const MAIN_EXAMPLES = [
  "cgwarden check                                   # can this kernel enforce?",
  "cgwarden lock /system.slice/foo.service --out    # nothing moves foo's tasks out",
  "cgwarden allow /system.slice/foo.service --exe /usr/lib/systemd/systemd",
  "cgwarden audit --verdict denied                  # who tried, and which rule said no",
  "cgwarden completion bash > /etc/bash_completion.d/cgwarden",
];

if (import.meta.main) {
  process.exitCode = await runCli(process.argv.slice(2));
}
