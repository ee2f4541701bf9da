// Errors as data: what went wrong, what to do about it, and the exit code,
// rendered once at the top level (main.ts) as one line of text, or under
// --json as {"error": {...}} on stdout, as bpftool does.

// Exit codes are part of the interface: scripts branch on them.
export const EXIT_OK = 0;
export const EXIT_RUNTIME = 1;
export const EXIT_USAGE = 2;
/** `explain`: the live policy denies the migration. */
export const EXIT_DENIED = 3;

/** Every exit code and what it means: the man page's EXIT STATUS reads this. */
export const EXIT_CODES: ReadonlyArray<{ code: number; meaning: string }> = [
  { code: EXIT_OK, meaning: "Success, or nothing to change (every command is idempotent); for explain, the migration is allowed." },
  { code: EXIT_RUNTIME, meaning: "Runtime error: the kernel cannot enforce, a path or process does not exist, the pinned state is damaged." },
  { code: EXIT_USAGE, meaning: "Usage error: an unknown or malformed option or argument." },
  { code: EXIT_DENIED, meaning: "explain: the live policy denies the migration. what-if: the candidate would deny a migration that was let through." },
];

/** A problem and, apart, the fix: the text joins them with "; ", JSON keeps them apart. */
export interface Problem {
  problem: string;
  fix?: string;
}

export const problemText = (p: Problem): string => (p.fix ? `${p.problem}; ${p.fix}` : p.problem);

/** An error meant for the admin: one line that names the problem and the fix. */
export class CliError extends Error {
  readonly problem: string;
  readonly fix: string | undefined;

  constructor(
    what: string | Problem,
    readonly exitCode: number = EXIT_RUNTIME,
  ) {
    const p = typeof what === "string" ? { problem: what } : what;
    super(problemText(p));
    this.problem = p.problem;
    this.fix = p.fix;
    this.name = "CliError";
  }
}

export class UsageError extends CliError {
  constructor(what: string | Problem) {
    super(what, EXIT_USAGE);
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

/** The error as --json prints it: the same words as the line, the fix apart where the error has one. */
export function errorJson(err: unknown): { error: { message: string; problem: string; fix: string | null; exitCode: number } } {
  const message = formatError(err).slice("cgwarden: ".length);
  const problem = err instanceof CliError ? err.problem.split("\n")[0]! : message;
  return { error: { message, problem, fix: err instanceof CliError ? (err.fix ?? null) : null, exitCode: exitCodeOf(err) } };
}

/** User input as it may appear inside a one-line message: escaped (newlines, control bytes) and shortened. */
export function shown(text: string, max = 80): string {
  const escaped = JSON.stringify(text).slice(1, -1);
  return escaped.length > max ? `${escaped.slice(0, max)}... (${text.length} characters)` : escaped;
}
