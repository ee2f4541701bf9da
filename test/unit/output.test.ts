// Output goes straight to file descriptors 1 and 2 (cli/output.ts): every
// byte arrives, and a reader that goes away ends the command quietly, with
// the status SIGPIPE would give (141), as for any Unix tool.
import { expect, test } from "bun:test";
import { join, resolve } from "node:path";

const OUTPUT = join(resolve(import.meta.dir, "../.."), "cli/output.ts");
const program = (lines: number) => `import { print } from ${JSON.stringify(OUTPUT)}; for (let i = 0; i < ${lines}; i++) print("line " + i + " ${"x".repeat(60)}");`;

test("a large output arrives whole", () => {
  const p = Bun.spawnSync([process.execPath, "-e", program(50_000)], { stdout: "pipe", stderr: "pipe" });
  const lines = p.stdout.toString().split("\n");
  expect(p.exitCode).toBe(0);
  expect(lines.length).toBe(50_001);
  expect(lines[49_999]).toStartWith("line 49999 ");
});

test("a reader that goes away: exit 141, nothing on stderr", () => {
  const p = Bun.spawnSync(["bash", "-c", `"$0" -e "$1" 2>"$2" | head -n 1 >/dev/null; echo "\${PIPESTATUS[0]}"; cat "$2"; rm -f "$2"`, process.execPath, program(200_000), `/tmp/cgw-epipe-${process.pid}`], { stdout: "pipe" });
  expect(p.stdout.toString()).toBe("141\n");
});
