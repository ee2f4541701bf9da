// The corpus cases that fail in argument checking alone (no setup, exit 2) run
// here on the host too; the guest suite runs all of them (test/guest/corpus.guest.ts).
import { describe, expect, mock, test } from "bun:test";
import { LONG_PATH, expand, judge, loadCorpus, type BadInput } from "../corpus/corpus.ts";
import { captureCli } from "../support/capture.ts";

// Usage errors come before any kernel access; if one ever did not, it must not load anything on the host.
mock.module("../../cli/pins/load.ts", () => ({
  loadWarden: () => {
    throw new Error("a corpus case reached loadWarden on the host");
  },
}));

// These refuse only after their cgroup resolves, and the corpus cgroups exist only in the guest.
const NEEDS_GUEST_CGROUPS = new Set(["uid: both --uid and --user", "selector: none given"]);

const hostCases = loadCorpus().filter(
  (c) => !c.setup && c.exit === 2 && !NEEDS_GUEST_CGROUPS.has(c.name) && !c.args.some((a) => /\{(FIXTURES|DEAD_PID)\}/.test(a)),
);

const cli = (args: string[]) => captureCli(args);

describe("bad-input corpus, argument checking only", () => {
  test("most usage errors are checkable without a kernel", () => {
    expect(hostCases.length).toBeGreaterThanOrEqual(60);
  });
  test.each(hostCases.map((c) => [c.name, c] as [string, BadInput]))("%s", async (_name, c) => {
    const r = await cli(expand(c.args, { FIXTURES: "/nonexistent", DEAD_PID: "0", LONG_PATH }));
    expect(judge(c, r)).toEqual([]);
  });
});
