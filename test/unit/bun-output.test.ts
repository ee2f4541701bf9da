// The runners' reading of `bun test` output (test/vm/bun-output.ts): the
// closing counts, and each failure with what bun printed for it.
import { expect, test } from "bun:test";
import { bunCounts, bunFailures } from "../vm/bun-output.ts";

const OUTPUT = `bun test v1.4.5

test/guest/a.guest.ts:
(pass) a > first [1.00ms]
some test's own line
error: expect(received).toBe(expected)

Expected: 2
Received: 1

      at <anonymous> (/work/main/test/guest/a.guest.ts:9:5)
(fail) a > second [2.00ms]
(skip) a > third

test/guest/b.guest.ts:
(fail) b > hung [300000.00ms]
  ^ this test timed out after 300000ms.

 1 pass
 1 skip
 2 fail
Ran 4 tests across 2 files. [1.00s]
`;

test("the closing counts, and none when bun never got there", () => {
  expect(bunCounts(OUTPUT)).toEqual({ passed: 1, failed: 2 });
  expect(bunCounts("guest died\n")).toBeNull();
});

test("each failure carries what bun printed since the test before it, and nothing of other tests", () => {
  const failures = bunFailures(OUTPUT);
  expect(failures).toHaveLength(2);
  expect(failures[0]).toStartWith("some test's own line\nerror: expect(received).toBe(expected)");
  expect(failures[0]).toContain("Received: 1");
  expect(failures[0]).toEndWith("(fail) a > second [2.00ms]");
  expect(failures[1]).toBe("(fail) b > hung [300000.00ms]");
  expect(bunFailures(OUTPUT.replace(/\(fail\)/g, "(pass)"))).toEqual([]);
});

test("a long failure keeps its last lines", () => {
  const noisy = `${Array.from({ length: 100 }, (_, i) => `line ${i}`).join("\n")}\n(fail) c > noisy\n`;
  const [only] = bunFailures(noisy);
  expect(only!.split("\n")).toHaveLength(31);
  expect(only).toStartWith("line 70\n");
});
