import { readFileSync } from "node:fs";
import { defineCommand } from "./_define.ts";
import { CliError, EXIT_DENIED, UsageError } from "../errors.ts";
import { print, printJson } from "../output.ts";
import { replayRecordOfJson, replayRecords } from "../audit/records.ts";
import { conflictInFile, specOfDocument } from "../policy/file/resolve.ts";
import { PolicyConflict } from "../policy/compile.ts";
import { numbered } from "../policy/spec.ts";
import { formatWhatIf, whatIf, type ReplayRecord } from "../policy/what-if.ts";
import { withPolicyReader } from "../pins/session.ts";
import { readPolicyDocument } from "./_policy-text.ts";
import { jsonArg, pinArgs, pinContext } from "./_shared.ts";

export default defineCommand({
  meta: {
    name: "what-if",
    description: "Decide recorded migrations again under a candidate policy file and show what would change (exit 0: nothing let through would be denied; 3: something would)",
  },
  args: {
    file: {
      type: "positional",
      required: true,
      variadic: true,
      description: "Candidate policy files (TOML or JSON), merged as apply merges them; a directory is its policy.toml then its policy.d/*.toml; - reads standard input",
      valueHint: "FILE|DIR...",
    },
    records: {
      type: "string",
      description: "Records to replay: JSON lines as 'cgwarden audit --json' writes them, or - for standard input (default: the flight recorder)",
      valueHint: "FILE",
    },
    ...jsonArg,
    ...pinArgs,
  },
  async run({ args }) {
    const { pinDir } = pinContext(args);
    if (args._.includes("-") && args.records === "-") throw new UsageError({ problem: "the candidate and --records cannot both be standard input", fix: "give one of them as a file" });
    const { doc } = await readPolicyDocument(args._);
    const desired = specOfDocument(doc);
    const records = args.records === undefined ? recorded(pinDir) : fromLines(args.records);
    let report;
    try {
      report = whatIf(numbered(desired.rules), desired.globalMode, records);
    } catch (e) {
      if (e instanceof PolicyConflict) throw conflictInFile(doc, desired, e);
      throw e;
    }
    if (args.json) printJson({ file: doc.source, ...report });
    else for (const line of formatWhatIf(report)) print(line);
    return { exitCode: report.newlyDenied ? EXIT_DENIED : 0 };
  },
});

/** The flight recorder's records; with nothing loaded there are none to replay, and that is said. */
function recorded(pinDir: string): ReplayRecord[] {
  const out = withPolicyReader(pinDir, replayRecords);
  if (!out) throw new CliError({ problem: `cgwarden is not loaded (pin directory ${pinDir}), so nothing was recorded`, fix: `give --records FILE (from 'cgwarden audit --json --follow'), or load and record first ('cgwarden recording all')` });
  return out;
}

function fromLines(file: string): ReplayRecord[] {
  let text: string;
  try {
    text = readFileSync(file === "-" ? 0 : file, "utf8");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new CliError({ problem: `cannot read records ${file}: ${code === "ENOENT" ? "no such file" : code === "EISDIR" ? "it is a directory" : (e as Error).message}`, fix: `give a file 'cgwarden audit --json' wrote` });
  }
  const out: ReplayRecord[] = [];
  text.split("\n").forEach((line, i) => {
    if (!line.trim()) return;
    const r = replayRecordOfJson(line, `${file === "-" ? "standard input" : file}:${i + 1}`);
    if (r) out.push(r);
  });
  return out;
}

export const examples = [
  "cgwarden what-if candidate.toml                       # against the flight recorder",
  "cgwarden audit --json --follow >> /var/log/cgwarden.jsonl   # a long capture, then:",
  "cgwarden what-if candidate.toml --records /var/log/cgwarden.jsonl --json",
];
