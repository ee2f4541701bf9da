#!/usr/bin/env bun
// Entry point: lazy subcommands, exact exit codes, one-line errors.
import { defineCommand, runCommand, showUsage, type CommandDef } from "citty";
import { CliError, EXIT_USAGE, exitCodeOf, formatError, shown } from "./errors.ts";
import { VERSION } from "./version.ts";
import { note, print } from "./output.ts";
import { checkArgv, looksLikeOption } from "./commands/_argv.ts";
import type { ArgsDef } from "citty";

export const commands = {
  check: () => import("./commands/check.ts").then((m) => m.default),
  load: () => import("./commands/load.ts").then((m) => m.default),
  status: () => import("./commands/status.ts").then((m) => m.default),
  unload: () => import("./commands/unload.ts").then((m) => m.default),
  lock: () => import("./commands/lock.ts").then((m) => m.default),
  unlock: () => import("./commands/unlock.ts").then((m) => m.default),
  allow: () => import("./commands/allow.ts").then((m) => m.default),
  delegate: () => import("./commands/delegate.ts").then((m) => m.default),
  rules: () => import("./commands/rules.ts").then((m) => m.default),
  remove: () => import("./commands/remove.ts").then((m) => m.default),
  mode: () => import("./commands/mode.ts").then((m) => m.default),
  audit: () => import("./commands/audit.ts").then((m) => m.default),
  explain: () => import("./commands/explain.ts").then((m) => m.default),
  recording: () => import("./commands/recording.ts").then((m) => m.default),
} as const;

export const main = defineCommand({
  meta: { name: "cgwarden", version: VERSION, description: "Decide who may move processes between cgroup v2 cgroups" },
  subCommands: commands,
});

/** Runs the CLI with `argv` and returns the exit code; never calls process.exit. */
export async function runCli(argv: string[]): Promise<number> {
  if (argv.length === 1 && (argv[0] === "--version" || argv[0] === "-V")) {
    print(VERSION);
    return 0;
  }
  if (argv.length === 0 || argv[0] === "--help" || argv[0] === "-h") {
    await showUsage(main);
    return argv.length === 0 ? EXIT_USAGE : 0;
  }
  const name = argv[0]!;
  if (!Object.hasOwn(commands, name)) {
    if (looksLikeOption(name)) {
      note(formatError(new CliError(`unknown option ${shown(name)} before the command; usage: cgwarden COMMAND [options] (see 'cgwarden --help')`)));
      return EXIT_USAGE;
    }
    note(formatError(new CliError(`unknown command '${shown(name)}'; commands: ${Object.keys(commands).join(", ")}`)));
    return EXIT_USAGE;
  }
  const cmd = (await commands[name as keyof typeof commands]()) as CommandDef;
  const rest = argv.slice(1);
  if (rest.includes("--help") || rest.includes("-h")) {
    await showUsage(cmd, main);
    return 0;
  }
  try {
    // Before citty parses: its parser misreads what checkArgv refuses, and its missing-argument errors name no fix.
    checkArgv(name, ((cmd.args ?? {}) as ArgsDef), rest);
    const { result } = await runCommand(cmd, { rawArgs: rest });
    return (result as { exitCode?: number } | undefined)?.exitCode ?? 0;
  } catch (err) {
    note(formatError(err));
    return citty(err) ? EXIT_USAGE : exitCodeOf(err);
  }
}

// citty's own argument errors (missing required arguments, bad enum values) are usage errors.
function citty(err: unknown): boolean {
  return err instanceof Error && err.name === "CLIError";
}

if (import.meta.main) {
  process.exitCode = await runCli(process.argv.slice(2));
}
