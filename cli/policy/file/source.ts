// What the TOML and JSON readers share: data plus the line of every value, so
// that a schema problem found later, by JSON pointer, can name its line.

/**
 * The largest policy text read. A policy holds at most 2^20 rules of each
 * kind (object/configure.ts MAX_CAPACITY), and real ones are kilobytes; the
 * bound is there so that `apply /dev/zero` fails at once instead of filling memory.
 */
export const MAX_POLICY_BYTES = 16 << 20;

export interface ParsedSource {
  data: unknown;
  /** JSON pointer -> 1-based line where that value (or its key, or its table header) starts. */
  lines: ReadonlyMap<string, number>;
}

/** A problem found while reading the text, before there is data to validate. */
export class SourceSyntaxError extends Error {
  constructor(
    readonly line: number,
    message: string,
    readonly fix = "",
    /** Set when the problem is about one value (a key given twice), not about syntax. */
    readonly pointer?: string,
  ) {
    super(message);
    this.name = "SourceSyntaxError";
  }
}

/** Maps text offsets to 1-based line numbers. */
export function lineCounter(text: string): (offset: number) => number {
  const starts = [0];
  for (let i = text.indexOf("\n"); i !== -1; i = text.indexOf("\n", i + 1)) starts.push(i + 1);
  return (offset) => {
    let lo = 0;
    let hi = starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (starts[mid]! <= offset) lo = mid;
      else hi = mid - 1;
    }
    return lo + 1;
  };
}

export function childPointer(ptr: string, key: string | number): string {
  return `${ptr}/${String(key).replaceAll("~", "~0").replaceAll("/", "~1")}`;
}
