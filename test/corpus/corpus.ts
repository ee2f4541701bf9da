// Reading test/corpus/bad-input.json and judging one run against a case;
// shared by the guest runner and the host test of the pure-parsing cases.
import { readFileSync } from "node:fs";
import { join } from "node:path";

export const SETUPS = ["loaded", "not-loaded", "after-unload", "stray-file-in-maps", "stray-dir-in-maps", "missing-map", "wrong-shape-map"] as const;
export type Setup = (typeof SETUPS)[number];

export interface BadInput {
  name: string;
  args: string[];
  setup?: Exclude<Setup, "loaded">;
  exit: 1 | 2;
  /** A substring of the error line, or a regular expression after "re:". */
  error: string;
}

export interface Placeholders {
  FIXTURES: string;
  LONG_PATH: string;
  DEAD_PID: string;
}

export function loadCorpus(): BadInput[] {
  const doc = JSON.parse(readFileSync(join(import.meta.dir, "bad-input.json"), "utf8")) as { cases: BadInput[] };
  return doc.cases;
}

export const LONG_PATH = `/cgw/${"a".repeat(5000)}`;

export function expand(args: string[], values: Placeholders): string[] {
  return args.map((a) => a.replace(/\{(FIXTURES|LONG_PATH|DEAD_PID)\}/g, (_, k: keyof Placeholders) => values[k]));
}

export const usesPlaceholder = (c: BadInput): boolean => c.args.some((a) => /\{(FIXTURES|LONG_PATH|DEAD_PID)\}/.test(a));

/** Everything wrong with one run of a case, empty when it behaved. */
export function judge(c: BadInput, r: { code: number; out: string; err: string }): string[] {
  const problems: string[] = [];
  if (r.code !== c.exit) problems.push(`exit ${r.code}, expected ${c.exit}`);
  const lines = r.err.split("\n");
  if (r.err === "" || lines.length !== 1) problems.push(`stderr has ${r.err === "" ? 0 : lines.length} lines, expected 1: ${JSON.stringify(r.err)}`);
  const line = lines[0] ?? "";
  if (!line.startsWith("cgwarden: ")) problems.push(`stderr does not start with 'cgwarden: ': ${JSON.stringify(line)}`);
  const hit = c.error.startsWith("re:") ? new RegExp(c.error.slice(3)).test(line) : line.includes(c.error);
  if (!hit) problems.push(`stderr ${JSON.stringify(line)} does not match ${JSON.stringify(c.error)}`);
  for (const [stream, text] of [["stdout", r.out], ["stderr", r.err]] as const) {
    if (/^\s{4}at /m.test(text)) problems.push(`${stream} has a stack trace`);
    if (/(^|\s)(\w*Error):/m.test(text)) problems.push(`${stream} has a raw error name: ${JSON.stringify(text.slice(0, 200))}`);
  }
  if (r.out !== "") problems.push(`stdout is not empty: ${JSON.stringify(r.out.slice(0, 200))}`);
  return problems;
}
