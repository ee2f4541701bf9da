// What `bun test` printed, read by the runners (test/run.ts,
// test/system/run.ts): its closing counts, and each failed test with the
// lines bun printed for it, so the closing summary can repeat them where a
// log's tail shows them.

/** bun test ends with " N pass" and " N fail" lines; null if it never got there. */
export function bunCounts(output: string): { passed: number; failed: number } | null {
  const pass = /^\s*(\d+) pass$/m.exec(output);
  const fail = /^\s*(\d+) fail$/m.exec(output);
  if (!pass && !fail) return null;
  return { passed: Number(pass?.[1] ?? 0), failed: Number(fail?.[1] ?? 0) };
}

/** At most this many of bun's lines before a "(fail)" line are kept: its error, diff and stack. */
const FAILURE_LINES = 30;

/**
 * Each failed test: its "(fail)" line after what bun printed for it since
 * the previous test's verdict (the error, the expectation's diff, the
 * stack, and whatever the test wrote), the last FAILURE_LINES of them.
 */
export function bunFailures(output: string): string[] {
  const blocks: string[] = [];
  let since: string[] = [];
  for (const line of output.split("\n")) {
    if (/^\((fail)\) /.test(line)) {
      blocks.push([...since.slice(-FAILURE_LINES), line].join("\n"));
      since = [];
    } else if (/^\((pass|skip|todo)\) /.test(line) || /^test\/.*\.ts:$/.test(line) || /^\.\/test\/.*\.ts:$/.test(line)) since = [];
    else since.push(line);
  }
  return blocks;
}
