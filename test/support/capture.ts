// Runs the CLI in this process and captures what it printed, the way admins'
// scripts see it: the exit code, stdout and stderr.
import { runCli } from "../../cli/main.ts";
import { setSink } from "../../cli/output.ts";

export interface CliResult {
  code: number;
  out: string;
  err: string;
}

export async function captureCli(args: string[]): Promise<CliResult> {
  const out: string[] = [];
  const err: string[] = [];
  setSink({ out: (l) => out.push(l), err: (l) => err.push(l) });
  try {
    return { code: await runCli(args), out: out.join("\n"), err: err.join("\n") };
  } finally {
    setSink(null);
  }
}
