// Exit codes are part of the interface: scripts branch on them.
export const EXIT_OK = 0;
export const EXIT_RUNTIME = 1;
export const EXIT_USAGE = 2;
/** `explain`: the live policy denies the migration. */
export const EXIT_DENIED = 3;

/** An error meant for the admin: one line that names the problem and the fix. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = EXIT_RUNTIME,
  ) {
    super(message);
    this.name = "CliError";
  }
}

export class UsageError extends CliError {
  constructor(message: string) {
    super(message, EXIT_USAGE);
    this.name = "UsageError";
  }
}

/** The one line printed for any error that reaches the top level. */
export function formatError(err: unknown): string {
  if (err instanceof Error) {
    const first = err.message.split("\n")[0] ?? "";
    return `cgwarden: ${first}`;
  }
  return `cgwarden: ${String(err)}`;
}

export function exitCodeOf(err: unknown): number {
  return err instanceof CliError ? err.exitCode : EXIT_RUNTIME;
}

/** User input as it may appear inside a one-line message: escaped (newlines, control bytes) and shortened. */
export function shown(text: string, max = 80): string {
  const escaped = JSON.stringify(text).slice(1, -1);
  return escaped.length > max ? `${escaped.slice(0, max)}... (${text.length} characters)` : escaped;
}
