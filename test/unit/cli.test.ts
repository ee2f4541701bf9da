// Argument handling and error formatting, run in-process on the host. Only
// commands that need no kernel support are exercised here.
import { describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CliError, UsageError, formatError, exitCodeOf } from "../../cli/errors.ts";
import { BpfError } from "../../cli/libbpf/errors.ts";
import { VERSION } from "../../cli/version.ts";
import { parseArgv } from "../../cli/commands/_argv.ts";
import { parseCapacity, parsePid, parseRuleId, parseUid } from "../../cli/policy/numbers.ts";
import { captureCli } from "../support/capture.ts";

const cli = (...args: string[]) => captureCli(args);

describe("errors, as text and as JSON", () => {
  test("an error is one line on stderr, problem and fix joined, nothing on stdout", async () => {
    expect(await cli("lock", "/a//b")).toEqual({ code: 2, out: "", err: "cgwarden: cgroup path '/a//b' has an empty component ('//'); write each '/' once" });
  });
  test("under --json the same error is an object on stdout, the fix apart, nothing on stderr", async () => {
    const r = await cli("lock", "/a//b", "--json");
    expect({ code: r.code, err: r.err }).toEqual({ code: 2, err: "" });
    expect(JSON.parse(r.out)).toEqual({
      error: { message: "cgroup path '/a//b' has an empty component ('//'); write each '/' once", problem: "cgroup path '/a//b' has an empty component ('//')", fix: "write each '/' once", exitCode: 2 },
    });
  });
  test("errors keep their fix apart under --json: an option, a selector, a policy file's line", async () => {
    const fixOf = async (...argv: string[]) => JSON.parse((await cli(...argv, "--json")).out).error as { problem: string; fix: string | null };
    expect(await fixOf("rules", "--frobnicate")).toEqual(expect.objectContaining({ problem: "unknown option --frobnicate", fix: "see 'cgwarden rules --help'" }));
    expect(await fixOf("allow", "/a", "--uid", "0", "--user", "root")).toEqual(expect.objectContaining({ problem: "--uid and --user both name the actor's uid", fix: "give one" }));
    const dir = mkdtempSync(join(tmpdir(), "cgw-fix-"));
    try {
      writeFileSync(join(dir, "p.toml"), '[[lock]]\npath = "relative"\n');
      const e = await fixOf("apply", join(dir, "p.toml"), "--dry-run");
      expect(e.problem).toStartWith(`${join(dir, "p.toml")}:2: lock[0].path: `);
      expect(e.fix).toBeTruthy();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
  test("an argument error under --json is JSON too; a malformed --json is not a request for it", async () => {
    const r = await cli("audit", "--verdict", "allowed", "--json");
    expect(JSON.parse(r.out).error).toMatchObject({ message: "--verdict takes denied, audit or all, not 'allowed'", exitCode: 2 });
    expect(await cli("rules", "--json=1")).toMatchObject({ code: 2, out: "", err: "cgwarden: --json takes no value, not '1'; write --json alone" });
  });
});

describe("argument parsing", () => {
  test("--version prints the package version", async () => {
    expect(await cli("--version")).toMatchObject({ code: 0, out: VERSION });
  });
  test("an unknown command is a usage error naming the commands", async () => {
    const r = await cli("frobnicate");
    expect(r.code).toBe(2);
    expect(r.err).toBe("cgwarden: unknown command 'frobnicate'; commands: check, load, status, unload, lock, unlock, allow, delegate, apply, export, schema, rules, remove, mode, audit, explain, what-if, tree, recording, seal, unseal, install-files, completion");
  });
  test("an unknown option is a usage error", async () => {
    const r = await cli("lock", "/x", "--sideways");
    expect(r).toMatchObject({ code: 2, err: "cgwarden: unknown option --sideways; see 'cgwarden lock --help'" });
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
    expect(await cli("status", "-v", "--verbose")).toMatchObject({ code: 2, err: "cgwarden: --verbose given 2 times; give it once" });
  });
  test("extra positionals are refused", async () => {
    const r = await cli("remove", "1", "2");
    expect(r).toMatchObject({ code: 2, err: "cgwarden: unexpected argument '2'; see 'cgwarden remove --help'" });
  });
  test("a missing required argument is a usage error naming it", async () => {
    expect(await cli("lock")).toMatchObject({ code: 2, err: "cgwarden: missing CGROUP: usage is 'cgwarden lock CGROUP'; see 'cgwarden lock --help'" });
  });
  test("bad numbers are usage errors before anything is touched", async () => {
    expect(await cli("remove", "abc")).toMatchObject({ code: 2, err: "cgwarden: rule id must be a positive number from 1 to 4294967295 (see 'cgwarden rules'), not 'abc'" });
    expect(await cli("load", "--max-locks", "0")).toMatchObject({ code: 2, err: "cgwarden: --max-locks takes a whole number from 1 to 1048576, not '0'" });
  });
});

describe("strict options (citty would misread these)", () => {
  test("a single-dash long option is refused, naming the two-dash form", async () => {
    expect(await cli("allow", "/svc", "--uid", "4321", "-exe", "/usr/bin/true")).toMatchObject({
      code: 2,
      err: "cgwarden: unknown option -exe; long options take two dashes: --exe",
    });
    expect(await cli("lock", "/x", "--out", "-audit")).toMatchObject({ code: 2, err: "cgwarden: unknown option -audit; long options take two dashes: --audit" });
  });
  test("short options: a declared alias alone is fine, clusters and unknown letters are not", async () => {
    expect((await cli("audit", "-fv")).err).toBe("cgwarden: unknown option -fv; give short options one at a time (-f -v)");
    expect((await cli("status", "-x")).err).toBe("cgwarden: unknown option -x; see 'cgwarden status --help'");
    expect((await cli("remove", "-1")).err).toBe("cgwarden: unknown option -1; negative numbers are not valid here");
  });
  test("a boolean given a value, an empty option name, an option before the command", async () => {
    expect(await cli("lock", "/x", "--out=yes")).toMatchObject({ code: 2, err: "cgwarden: --out takes no value, not 'yes'; write --out alone" });
    expect(await cli("lock", "/x", "--=x")).toMatchObject({ code: 2, err: "cgwarden: '--=x' has no option name; options are written --name or --name=VALUE" });
    expect((await cli("--json", "rules")).code).toBe(2);
  });
  test("a value that looks like an option must be attached with =", async () => {
    expect((await cli("allow", "/x", "--uid", "-1")).err).toBe(
      "cgwarden: option --uid needs a value, and '-1' looks like an option; if it is the value, write --uid=-1",
    );
    expect((await cli("allow", "/x", "--exe", "")).err).toBe("cgwarden: option --exe has an empty value; give a value");
  });
  test("every repeated option is refused, negations included", async () => {
    expect((await cli("lock", "/x", "--out", "--no-out")).err).toBe("cgwarden: --out given 2 times; give it once");
  });
  test("command names are looked up as names, not object properties", async () => {
    expect((await cli("constructor")).err).toStartWith("cgwarden: unknown command 'constructor'");
  });
});

describe("numbers are checked in full before anything is touched", () => {
  test("rule ids: 1 to 2^32-1, decimal, no sign, no leading zeros", () => {
    expect(parseRuleId("1")).toBe(1);
    expect(parseRuleId("4294967295")).toBe(4294967295);
    for (const bad of ["0", "4294967296", "007", "+5", "1e3", "0x10", "1.5", " 5", "", "١"]) expect(() => parseRuleId(bad)).toThrow(UsageError);
  });
  test("capacities: 1 to 2^20", () => {
    expect(parseCapacity(undefined, "--max-locks")).toBeUndefined();
    expect(parseCapacity("1048576", "--max-locks")).toBe(1048576);
    for (const bad of ["0", "-1", "1e9", "abc", "2097152", "1048577"]) expect(() => parseCapacity(bad, "--max-locks")).toThrow(UsageError);
  });
  test("uids and pids", () => {
    expect(parseUid("0")).toBe(0);
    expect(parseUid("4294967294")).toBe(4294967294);
    for (const bad of ["-1", "4294967295", "00", "01"]) expect(() => parseUid(bad)).toThrow(UsageError);
    expect(parsePid("4194304", "--pid")).toBe(4194304);
    for (const bad of ["0", "4194305", "0x1"]) expect(() => parsePid(bad, "--pid")).toThrow(UsageError);
  });
  test("remove 4294967296 is refused with cgwarden's own line", async () => {
    expect(await cli("remove", "4294967296")).toMatchObject({
      code: 2,
      err: "cgwarden: rule id must be a positive number from 1 to 4294967295 (see 'cgwarden rules'), not '4294967296'",
    });
  });
});

describe("parseArgv on a declared table", () => {
  const def = {
    path: { type: "positional", required: true, valueHint: "CGROUP" },
    exe: { type: "string" },
    out: { type: "boolean" },
    follow: { type: "boolean", alias: "f" },
  } as const;
  const check = (...raw: string[]) => () => parseArgv("t", def, raw);
  test("accepts what is declared", () => {
    for (const raw of [["/x"], ["/x", "--exe", "/bin/true"], ["/x", "--exe=-odd"], ["-f", "/x"], ["--", "-x"], ["/x", "--no-out"], ["/x", "--exe", "-"]])
      expect(check(...raw)).not.toThrow();
  });
  test("refuses everything else", () => {
    for (const raw of [["/x", "-exe", "a"], ["/x", "--exe"], ["/x", "--exe", "--out"], ["/x", "--out=1"], ["/x", "-ff"], ["/x", "/y"], [], ["/x", "--="], ["/x", "-f", "-f"]])
      expect(check(...raw)).toThrow(UsageError);
  });
  test("hands the command its arguments by declared name, aliases too, as citty would", () => {
    expect(parseArgv("t", def, ["/x", "--exe=-odd", "-f"])).toEqual({ _: ["/x"], path: "/x", exe: "-odd", out: undefined, follow: true, f: true });
    expect(parseArgv("t", def, ["--no-out", "--exe", "/bin/true", "--", "-x"])).toMatchObject({ _: ["-x"], path: "-x", exe: "/bin/true", out: false });
  });
  test("defaults fill what is not given; a required option is missing with its hint", () => {
    const withDefaults = { ...def, mode: { type: "string", default: "enforce" }, prefix: { type: "string", required: true, valueHint: "DIR" } } as const;
    expect(parseArgv("t", withDefaults, ["/x", "--prefix", "/tmp"])).toMatchObject({ mode: "enforce", prefix: "/tmp" });
    expect(() => parseArgv("t", withDefaults, ["/x"])).toThrow("missing --prefix DIR; see 'cgwarden t --help'");
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
    expect(e.message).toBe("loading BPF programs: Operation not permitted (errno 1); program x; libbpf: failed to load object 'cgwarden'");
  });
  test("a verifier rejection is summarised by the verifier's own reason", () => {
    const log = ["0: (b7) r0 = 0", "; return 0; @ x.c:1", "R2 unbounded memory access", "processed 12 insns (limit 1000000)", "-- END PROG LOAD LOG --"];
    const e = new BpfError("loading BPF programs", 13, log);
    expect(e.message).toContain("verifier: R2 unbounded memory access");
  });
});

describe("policy files without a kernel", () => {
  test("schema prints the one schema, and it is the one apply validates with", async () => {
    const { POLICY_SCHEMA } = await import("../../cli/policy/file/schema.ts");
    const r = await cli("schema");
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out)).toEqual(JSON.parse(JSON.stringify(POLICY_SCHEMA)));
  });
  test("export with nothing loaded writes the empty policy, which parses back", async () => {
    const { parsePolicyFile } = await import("../../cli/policy/file/parse.ts");
    const r = await cli("export", "--pin-dir", "/nonexistent/cgwarden", "--format", "json");
    expect(r.code).toBe(0);
    const doc = parsePolicyFile(r.out, "export.json");
    expect({ locks: doc.locks, allows: doc.allows, delegates: doc.delegates, settings: doc.settings }).toEqual({ locks: [], allows: [], delegates: [], settings: { mode: "enforce", record: "denials" } });
  });
  test("apply --dry-run with nothing loaded diffs against the empty policy and loads nothing", async () => {
    const file = `/tmp/cgw-unit-${process.pid}.toml`;
    await Bun.write(file, '[[lock]]\npath = "/system.slice/*.service"\ndirections = ["out"]\n');
    const r = await cli("apply", "--dry-run", "--json", "--pin-dir", "/nonexistent/cgwarden", file);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out)).toMatchObject({ changed: true, dryRun: true, added: [{ kind: "lock", path: "/system.slice/*.service", rule: "lock /system.slice/*.service out enforce" }], removed: [] });
  });
  test("a bad file is one line naming file, line and field, exit 1", async () => {
    const file = `/tmp/cgw-unit-bad-${process.pid}.toml`;
    await Bun.write(file, '[[lock]]\npath = "/a"\ndirection = ["out"]\n');
    const r = await cli("apply", "--dry-run", "--pin-dir", "/nonexistent/cgwarden", file);
    expect(r.code).toBe(1);
    expect(r.err).toBe(`cgwarden: ${file}:3: lock[0].direction: unknown key 'direction'; allowed keys: path, directions, mode`);
  });
  test("a missing file says so", async () => {
    const r = await cli("apply", "/nonexistent/policy.toml");
    expect(r.code).toBe(1);
    expect(r.err).toContain("cannot read policy file /nonexistent/policy.toml: no such file");
  });
  test("an endless file is refused at the size bound, at once, and nothing is loaded", async () => {
    for (const args of [["apply", "/dev/zero"], ["apply", "--dry-run", "/dev/zero"]]) {
      const r = await cli(...args);
      expect(r.code).toBe(1);
      expect(r.err.trimEnd().split("\n")).toEqual(["cgwarden: policy file /dev/zero is larger than 16 MiB, more than any policy cgwarden can hold; check the path, or split the rules across files"]);
    }
  });
  test("a directory without a policy in it says so", async () => {
    const r = await cli("apply", "/tmp");
    expect(r.code).toBe(1);
    expect(r.err).toBe("cgwarden: /tmp is a directory without a policy: it has neither policy.toml nor policy.d/*.toml; give a policy file, or the directory that holds them (/etc/cgwarden)");
  });
});
