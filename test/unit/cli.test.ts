// Argument handling and error formatting, run in-process on the host. Only
// commands that need no kernel support are exercised here.
import { describe, expect, test } from "bun:test";
import { runCli } from "../../cli/main.ts";
import { setSink } from "../../cli/output.ts";
import { CliError, UsageError, formatError, exitCodeOf } from "../../cli/errors.ts";
import { BpfError } from "../../cli/libbpf/errors.ts";
import { VERSION } from "../../cli/version.ts";

async function cli(...args: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  setSink({ out: (l) => out.push(l), err: (l) => err.push(l) });
  try {
    return { code: await runCli(args), out: out.join("\n"), err: err.join("\n") };
  } finally {
    setSink(null);
  }
}

describe("argument parsing", () => {
  test("--version prints the package version", async () => {
    expect(await cli("--version")).toMatchObject({ code: 0, out: VERSION });
  });
  test("an unknown command is a usage error naming the commands", async () => {
    const r = await cli("frobnicate");
    expect(r.code).toBe(2);
    expect(r.err).toBe("cgwarden: unknown command 'frobnicate'; commands: check, load, status, unload, lock, unlock, allow, delegate, rules, remove, mode, audit, explain, recording");
  });
  test("an unknown option is a usage error", async () => {
    const r = await cli("lock", "/x", "--sideways");
    expect(r).toMatchObject({ code: 2, err: "cgwarden: unknown option --sideways; see '--help'" });
  });
  test("an option missing its value is a usage error", async () => {
    expect(await cli("allow", "/x", "--uid")).toMatchObject({ code: 2, err: "cgwarden: option --uid needs a value" });
  });
  test("a repeated selector is a usage error, not a silent last-one-wins", async () => {
    const r = await cli("allow", "/x", "--uid", "1", "--uid=2");
    expect(r.code).toBe(2);
    expect(r.err).toContain("--uid given 2 times");
  });
  test("an alias counts as its option", async () => {
    expect((await cli("status", "-v", "--verbose", "--bogus")).err).toContain("unknown option --bogus");
  });
  test("extra positionals are refused", async () => {
    const r = await cli("remove", "1", "2");
    expect(r).toMatchObject({ code: 2, err: "cgwarden: unexpected argument 2; see '--help'" });
  });
  test("a missing required argument is a usage error", async () => {
    expect((await cli("lock")).code).toBe(2);
  });
  test("bad numbers are usage errors before anything is touched", async () => {
    expect(await cli("remove", "abc")).toMatchObject({ code: 2, err: "cgwarden: rule id must be a positive number, not 'abc'" });
    expect(await cli("load", "--max-locks", "0")).toMatchObject({ code: 2, err: "cgwarden: --max-locks takes a positive whole number, not '0'" });
  });
});

describe("error formatting", () => {
  test("one line, prefixed, whatever the error", () => {
    expect(formatError(new CliError("first\nsecond"))).toBe("cgwarden: first");
    expect(formatError("plain")).toBe("cgwarden: plain");
  });
  test("exit codes: usage 2, runtime 1", () => {
    expect(exitCodeOf(new UsageError("x"))).toBe(2);
    expect(exitCodeOf(new CliError("x"))).toBe(1);
    expect(exitCodeOf(new Error("x"))).toBe(1);
  });
  test("libbpf errors carry errno, strerror and libbpf's telling line", () => {
    const e = new BpfError("loading BPF programs", 1, ["libbpf: prog 'x': failed to load: -1", "libbpf: failed to load object 'cgwarden'"]);
    expect(e.errno).toBe(1);
    expect(e.message).toBe("loading BPF programs: Operation not permitted (errno 1); libbpf: failed to load object 'cgwarden'");
  });
  test("a verifier rejection is summarised by the verifier's own reason", () => {
    const log = ["0: (b7) r0 = 0", "; return 0; @ x.c:1", "R2 unbounded memory access", "processed 12 insns (limit 1000000)", "-- END PROG LOAD LOG --"];
    const e = new BpfError("loading BPF programs", 13, log);
    expect(e.message).toContain("verifier: R2 unbounded memory access");
  });
});
