// The policy file format: reading (TOML and JSON, with line numbers), the
// schema and its interpreter, the messages admins see, and canonical export.
// Nothing here touches the machine.
import { describe, expect, test } from "bun:test";
import { CliError } from "../../cli/errors.ts";
import { Direction, MAX_LEVEL, Mode, PATH_LEN, TEMPLATE_PART } from "../../cli/object/abi.ts";
import { formatJson, formatToml, tomlString, type GateEntryLike, type PolicyDocumentLike } from "../../cli/policy/file/format.ts";
import { parseJson } from "../../cli/policy/file/json-lines.ts";
import {
  PolicyFileError, formatProblems, guessFormat, locate, parsePolicyFile, type PolicyDocument, type PolicyFormat,
} from "../../cli/policy/file/parse.ts";
import { PATH_MAX_BYTES, PATH_MAX_DEPTH, POLICY_SCHEMA, TEMPLATE_PART_MAX_BYTES } from "../../cli/policy/file/schema.ts";
import { parseToml } from "../../cli/policy/file/toml.ts";
import { compileSchema } from "../../cli/policy/file/validate.ts";
import { documentOfSpec, specOfDocument } from "../../cli/policy/file/resolve.ts";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const EXAMPLES = new URL("../../examples/", import.meta.url);

/** The first problem's one-line message, or "ok". */
function firstError(text: string, name = "policy.toml", format?: PolicyFormat): string {
  try {
    parsePolicyFile(text, name, format);
    return "ok";
  } catch (e) {
    if (e instanceof PolicyFileError) return e.message;
    throw e;
  }
}

function allErrors(text: string, name = "policy.toml"): string[] {
  try {
    parsePolicyFile(text, name);
    return [];
  } catch (e) {
    if (e instanceof PolicyFileError) return formatProblems(e.problems).split("\n");
    throw e;
  }
}

/** The document without positions: what export writes. */
function content(doc: PolicyDocument): PolicyDocumentLike {
  const strip = <T extends { source: string; index: number; line: number; fieldLines: object }>({ source: _s, index: _i, line: _l, fieldLines: _f, ...rest }: T) => rest;
  return { settings: doc.settings, locks: doc.locks.map(strip), allows: doc.allows.map(strip), delegates: doc.delegates.map(strip), seal: doc.seal ? strip(doc.seal) : null };
}

const lockAt = (path: string) => `[[lock]]\npath = ${tomlString(path)}\n`;

describe("examples", () => {
  test("policy.toml parses to the policy its comments describe", async () => {
    const name = "examples/policy.toml";
    const doc = parsePolicyFile(await Bun.file(new URL("policy.toml", EXAMPLES)).text(), name);
    expect(content(doc)).toEqual({
      settings: { mode: "enforce", record: "denials" },
      locks: [
        { path: "/system.slice/*.service", directions: ["out", "within"], mode: "enforce" },
        { path: "/user.slice", directions: ["in", "out"], mode: "audit" },
      ],
      allows: [{ path: "/system.slice/*.service", exe: "/usr/lib/systemd/systemd", uid: 0 }],
      delegates: [{ path: "/system.slice/container.service", exe: "/usr/bin/crun" }],
      seal: null,
    });
  });
  test("services-stay-put.toml: every service at any depth held in; PID 1 let through for the login services", async () => {
    const doc = parsePolicyFile(await Bun.file(new URL("services-stay-put.toml", EXAMPLES)).text(), "services-stay-put.toml");
    const pid1 = { exe: "/usr/lib/systemd/systemd", uid: 0 };
    const gettys = ["/system.slice/system-getty.slice/*.service", "/system.slice/system-serial\\x2dgetty.slice/*.service", "/system.slice/system-container\\x2dgetty.slice/*.service"];
    expect(content(doc)).toEqual({
      settings: { mode: "enforce", record: "denials" },
      locks: ["/system.slice/**/*.service", ...gettys].map((path) => ({ path, directions: ["out"], mode: "enforce" })),
      allows: ["/system.slice/ssh.service", "/system.slice/console-getty.service", ...gettys].map((path) => ({ path, ...pid1 })),
      delegates: [],
      seal: null,
    });
  });
  test("container-host.toml: the services' locks and login allows, and every container held in its scope", async () => {
    const doc = parsePolicyFile(await Bun.file(new URL("container-host.toml", EXAMPLES)).text(), "container-host.toml");
    const c = content(doc);
    expect(c.locks.map((l: { path: string }) => l.path)).toEqual(["/system.slice/**/*.service", "/system.slice/system-getty.slice/*.service", "/system.slice/system-serial\\x2dgetty.slice/*.service", "/machine.slice/libpod-*.scope"]);
    expect(c.allows.map((a: { path: string }) => a.path)).toEqual(["/system.slice/ssh.service", "/system.slice/system-getty.slice/*.service", "/system.slice/system-serial\\x2dgetty.slice/*.service", "/machine.slice/libpod-*.scope", "/machine.slice/libpod-*.scope"]);
  });
  test("kubernetes-node.toml: containers held in their scopes at any pod depth; PID 1 and runc let out of containerd.service", async () => {
    const doc = parsePolicyFile(await Bun.file(new URL("kubernetes-node.toml", EXAMPLES)).text(), "kubernetes-node.toml");
    const c = content(doc);
    expect(c.locks.map((l: { path: string }) => l.path)).toEqual(["/system.slice/**/*.service", "/system.slice/system-getty.slice/*.service", "/kubepods.slice/**/cri-containerd-*.scope"]);
    expect(c.allows.map((a: { path: string; exe?: string }) => `${a.path} ${a.exe}`)).toEqual([
      "/system.slice/ssh.service /usr/lib/systemd/systemd",
      "/system.slice/containerd.service /usr/lib/systemd/systemd",
      "/system.slice/containerd.service /usr/sbin/runc",
      "/system.slice/system-getty.slice/*.service /usr/lib/systemd/systemd",
    ]);
  });
  test("every example reads the same through Bun's own TOML parser", async () => {
    for (const f of ["policy.toml", "services-stay-put.toml", "container-host.toml", "kubernetes-node.toml"]) {
      const text = await Bun.file(new URL(f, EXAMPLES)).text();
      expect(parseToml(text).data).toEqual(Bun.TOML.parse(text));
    }
  });
});

describe("defaults and shape", () => {
  test("an empty file (or only comments) is the empty policy", () => {
    for (const text of ["", "\n\n", "# nothing yet\n", "{}"]) {
      const doc = parsePolicyFile(text, "p");
      expect(content(doc)).toEqual({ settings: { mode: "enforce", record: "denials" }, locks: [], allows: [], delegates: [], seal: null });
      expect(doc.source).toBe("p");
    }
  });
  test("a lock without directions or mode gets all three directions, in order, and enforce", () => {
    const doc = parsePolicyFile(lockAt("/a"), "p.toml");
    expect(doc.locks[0]).toMatchObject({ directions: ["in", "out", "within"], mode: "enforce", line: 1, fieldLines: { path: 2 } });
  });
  test("directions are a set, kept in the order in, out, within", () => {
    const doc = parsePolicyFile(`${lockAt("/a")}directions = ["within", "in"]\n`, "p.toml");
    expect(doc.locks[0]!.directions).toEqual(["in", "within"]);
  });
  test("settings are read", () => {
    expect(parsePolicyFile('[settings]\nmode = "audit"\nrecord = "all"\n', "p").settings).toEqual({ mode: "audit", record: "all" });
  });
  test("the schema's enums are the ABI's names", () => {
    expect([...POLICY_SCHEMA.$defs.lock.properties.directions.items.enum]).toEqual(Object.keys(Direction) as never);
    expect([...POLICY_SCHEMA.$defs.lock.properties.mode.enum]).toEqual(Object.keys(Mode) as never);
    expect([...POLICY_SCHEMA.properties.settings.properties.mode.enum]).toEqual(Object.keys(Mode) as never);
  });
  test("the limits are the kernel side's: buffers (with their NUL) and depth", () => {
    expect(TEMPLATE_PART_MAX_BYTES).toBe(TEMPLATE_PART - 1);
    expect(PATH_MAX_BYTES).toBeLessThan(PATH_LEN);
    expect(PATH_MAX_DEPTH).toBe(MAX_LEVEL);
  });
});

describe("messages: FILE:LINE: FIELD: problem; fix", () => {
  test("TOML syntax error", () => {
    expect(firstError('[[lock]]\npath "/a"\n')).toBe("policy.toml:2: invalid TOML: expected '=' after the key 'path'; write key = value");
  });
  test("unknown key, named with the allowed ones", () => {
    const text = `${lockAt("/a")}\n[[allow]]\npath = "/a"\nuser = "backup"\n\n[[allow]]\npath = "/a"\nusr = "backup"\nexe = "/bin/tar"\n`;
    expect(firstError(text)).toBe("policy.toml:10: allow[1].usr: unknown key 'usr'; allowed keys: path, exe, uid, user, cgroup, pid");
  });
  test("unknown top-level section", () => {
    expect(firstError('[sealed]\nkey = "x"\n')).toBe("policy.toml:1: sealed: unknown key 'sealed'; allowed keys: settings, lock, allow, delegate, seal");
  });
  test("[seal]: managers, manager_pids or until_reboot; at most 8 each; absolute paths", () => {
    expect(firstError("[seal]\nlock_bpf = true\n")).toBe("policy.toml:1: seal: no managers, manager_pids, until_reboot or key; give at least one of managers, manager_pids, until_reboot, key");
    expect(firstError('[seal]\nmanagers = ["bin/sh"]\n')).toStartWith("policy.toml:2: seal.managers[0]: ");
    expect(firstError(`[seal]\nmanager_pids = [${Array.from({ length: 9 }, (_, i) => i + 1).join(", ")}]\n`)).toBe("policy.toml:2: seal.manager_pids: has 9 items, more than 8; give at most 8");
    expect(firstError("[seal]\nuntil_reboot = true\nlock_bpf = true\n")).toBe("ok");
  });
  test("[seal] key: an absolute path to a certificate, alone; read and named when applied", () => {
    expect(firstError('[seal]\nkey = "seal.pem"\n')).toBe('policy.toml:2: seal.key: "seal.pem" is not a valid value; give the certificate\'s absolute path, e.g. /etc/cgwarden/seal.pem');
    expect(firstError('[seal]\nkey = "/etc/cgwarden/seal.pem"\n')).toBe("ok");
    const dir = mkdtempSync(join(tmpdir(), "cgw-key-"));
    try {
      const cert = join(dir, "seal.pem");
      const made = Bun.spawnSync(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", join(dir, "seal.key"), "-out", cert, "-days", "1", "-subj", "/CN=unit-seal"]);
      expect(made.exitCode).toBe(0);
      const spec = specOfDocument(parsePolicyFile(`[seal]\nkey = "${cert}"\n`, "policy.toml"));
      expect(spec.seal).toMatchObject({ managers: [], untilReboot: false, key: { path: cert, subject: "CN=unit-seal" } });
      expect(spec.seal!.key!.sha256).toMatch(/^[0-9a-f]{64}$/);
      // export → apply round trip: the same path, so the same seal
      expect(formatToml(documentOfSpec(spec))).toContain(`key = "${cert}"`);
      const both = () => specOfDocument(parsePolicyFile(`[seal]\nkey = "${cert}"\nuntil_reboot = true\n`, "policy.toml"));
      expect(both).toThrow("policy.toml:2: seal.key: a key seal has no managers and does not last until reboot");
      const missing = () => specOfDocument(parsePolicyFile(`[seal]\nkey = "${dir}/none.pem"\n`, "policy.toml"));
      expect(missing).toThrow(`policy.toml:2: seal.key: cannot read the seal's certificate ${dir}/none.pem: no such file`);
      writeFileSync(join(dir, "bad.pem"), "not a certificate\n");
      const bad = () => specOfDocument(parsePolicyFile(`[seal]\nkey = "${dir}/bad.pem"\n`, "policy.toml"));
      expect(bad).toThrow(`policy.toml:2: seal.key: ${dir}/bad.pem is not an X.509 certificate`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
  const badPaths: [string, string][] = [
    ["relative", "a cgroup path starts with '/', e.g. /system.slice/foo.service"],
    ["", "a cgroup path starts with '/', e.g. /system.slice/foo.service"],
    ["/a/*/b", "'*' may appear once, in the last component (prefix*suffix), and '**' once, as the whole component before it (/system.slice/**/*.service)"],
    ["/a/x*y*z", "'*' may appear once, in the last component (prefix*suffix), and '**' once, as the whole component before it (/system.slice/**/*.service)"],
    ["/a/../b", "'.' and '..' are not allowed as components; write the path they lead to"],
    ["/a/.", "'.' and '..' are not allowed as components; write the path they lead to"],
    ["/a//b", "components are separated by one '/' and the path does not end in '/' (except '/' itself)"],
    ["/a/", "components are separated by one '/' and the path does not end in '/' (except '/' itself)"],
    ["/a\tb", "control characters (newline, tab, NUL...) cannot be part of a cgroup path"],
    ["/a\u0000", "control characters (newline, tab, NUL...) cannot be part of a cgroup path"],
    ["/a\u0085b", "control characters (newline, tab, NUL...) cannot be part of a cgroup path"],
    [`/${"x".repeat(64)}*`, "the text before and after '*' is at most 63 bytes each"],
    [`/a*${"x".repeat(64)}`, "the text before and after '*' is at most 63 bytes each"],
  ];
  for (const [path, fix] of badPaths)
    test(`bad path ${JSON.stringify(path)}`, () => {
      const shownPath = path.length > 60 ? `${JSON.stringify(path.slice(0, 60)).slice(0, -1)}... (${path.length} characters)"` : JSON.stringify(path);
      expect(firstError(lockAt(path))).toBe(`policy.toml:2: lock[0].path: ${shownPath} is not a valid cgroup path; ${fix}`);
    });
  test("too long: characters (schema) and UTF-8 bytes (format check)", () => {
    expect(firstError(lockAt(`/${"x".repeat(254)}`))).toBe("policy.toml:2: lock[0].path: is too long (255 characters); a cgroup path has at most 254 characters");
    expect(firstError(lockAt(`/${"x".repeat(253)}`))).toBe("ok");
    expect(firstError(lockAt(`/${"é".repeat(127)}`))).toBe("policy.toml:2: lock[0].path: is 255 bytes long; rule paths are at most 254 bytes");
    expect(firstError(lockAt(`/a${"é".repeat(126)}`))).toBe("ok");
  });
  test("depth: 32 levels below the root at most", () => {
    const deep = (n: number) => `/${Array.from({ length: n }, (_, i) => `c${i}`).join("/")}`;
    expect(firstError(lockAt(deep(32)))).toBe("ok");
    expect(firstError(lockAt(`${deep(31)}/*`))).toBe("ok");
    expect(firstError(lockAt(deep(33)))).toEndWith("is not a valid cgroup path; rules sit at most 32 levels below the root");
  });
  test("a path through the cgroup2 mount, which the kernel never matches: the fix names the path to write", () => {
    expect(firstError(lockAt("/sys/fs/cgroup/rt3c/a"))).toBe("policy.toml:2: lock[0].path: names the cgroup2 mount point; write the path as seen from the mount, like /rt3c/a");
  });
  test("text that was not UTF-8, or half a character", () => {
    expect(firstError(lockAt("/a\uFFFDb"))).toBe("policy.toml:2: lock[0].path: is not valid UTF-8 text; cgwarden names cgroups by UTF-8 paths");
    expect(firstError('{"lock": [{"path": "/a\\ud800"}]}', "p.json")).toBe("p.json:1: lock[0].path: is not valid UTF-8 text; cgwarden names cgroups by UTF-8 paths");
  });
  test("a template part too long in bytes though short in characters", () => {
    expect(firstError(lockAt(`/${"é".repeat(32)}*`))).toBe("policy.toml:2: lock[0].path: has a template prefix of 64 bytes; at most 63");
    expect(firstError(lockAt(`/a*${"😀".repeat(16)}`))).toBe("policy.toml:2: lock[0].path: has a template suffix of 64 bytes; at most 63");
    expect(firstError(lockAt(`/${"x".repeat(63)}*${"y".repeat(63)}`))).toBe("ok");
  });
  test("good paths: the root, a template of everything, names that only look like . or ..", () => {
    for (const path of ["/", "/*", "/..foo", "/a.", "/a/b*c", "/a/*", "/a/*.service", "/ä/😀", "/a b/c'd\"e"]) expect(firstError(lockAt(path))).toBe("ok");
  });
  test("the cgroup selector has the same syntax", () => {
    expect(firstError('[[allow]]\npath = "/a"\ncgroup = "a/b"\n')).toBe(
      "policy.toml:3: allow[0].cgroup: \"a/b\" is not a valid cgroup path; a cgroup path starts with '/', e.g. /system.slice/foo.service",
    );
  });
  test("uid and user both", () => {
    expect(firstError('[[allow]]\npath = "/a"\nuid = 0\nuser = "root"\n')).toBe("policy.toml:1: allow[0]: uid and user are both given; give only one of uid, user");
  });
  test("no selector", () => {
    expect(firstError('\n[[delegate]]\npath = "/a"\n')).toBe("policy.toml:2: delegate[0]: no exe, uid, user, cgroup or pid; give at least one of exe, uid, user, cgroup, pid");
  });
  test("missing path", () => {
    expect(firstError('[[allow]]\nuid = 0\n')).toBe("policy.toml:1: allow[0]: missing required key 'path'; add path: the cgroup (or template) the rule is bound to");
  });
  test("bad direction, repeated direction, no direction", () => {
    expect(firstError(`${lockAt("/a")}directions = ["out", "sideways"]\n`)).toBe('policy.toml:3: lock[0].directions[1]: unknown value "sideways"; give one of "in", "out", "within"');
    expect(firstError(`${lockAt("/a")}directions = [\n  "out",\n  "out",\n]\n`)).toBe('policy.toml:5: lock[0].directions[1]: "out" is listed twice; list each once');
    expect(firstError(`${lockAt("/a")}directions = []\n`)).toBe('policy.toml:3: lock[0].directions: is empty; give at least one of "in", "out", "within"');
    expect(firstError(`${lockAt("/a")}directions = "out"\n`)).toBe('policy.toml:3: lock[0].directions: expected a list, got a string ("out"); write a list: ["out"]');
  });
  test("bad mode and record", () => {
    expect(firstError(`${lockAt("/a")}mode = "permissive"\n`)).toBe('policy.toml:3: lock[0].mode: unknown value "permissive"; give one of "enforce", "audit"');
    expect(firstError('[settings]\nrecord = "everything"\n')).toBe('policy.toml:2: settings.record: unknown value "everything"; give one of "denials", "all"');
  });
  test("numbers: type, quotes, range", () => {
    expect(firstError('[[allow]]\npath = "/a"\nuid = "1000"\n')).toBe('policy.toml:3: allow[0].uid: expected an integer, got a string ("1000"); write the number without quotes: 1000');
    expect(firstError('[[allow]]\npath = "/a"\nuid = 4294967295\n')).toBe("policy.toml:3: allow[0].uid: 4294967295 is out of range; give an integer from 0 to 4294967294");
    expect(firstError('[[allow]]\npath = "/a"\npid = 0\n')).toBe("policy.toml:3: allow[0].pid: 0 is out of range; give an integer from 1 to 4194304");
    expect(firstError('[[allow]]\npath = "/a"\npid = 4194304\n')).toBe("ok");
    expect(firstError('{"allow": [{"path": "/a", "uid": 1.5}]}', "p.json")).toBe("p.json:1: allow[0].uid: expected an integer, got a number (1.5); give an integer");
  });
  test("exe and user", () => {
    expect(firstError('[[allow]]\npath = "/a"\nexe = "crun"\n')).toBe('policy.toml:3: allow[0].exe: "crun" is not a valid executable path; give the executable\'s absolute path, e.g. /usr/bin/crun');
    expect(firstError('[[allow]]\npath = "/a"\nuser = "a:b"\n')).toBe('policy.toml:3: allow[0].user: "a:b" is not a valid user name; a user name has letters, digits, \'_\', \'.\', \'-\' (and may end in \'$\')');
    expect(firstError('[[allow]]\npath = "/a"\nuser = "MACHINE$"\n')).toBe("ok");
  });
  test("a table where a list of tables belongs", () => {
    expect(firstError('[lock]\npath = "/a"\n')).toBe("policy.toml:1: lock: expected a list, got a table; write one [[lock]] per entry (in JSON, a list of objects)");
  });
  test("two locks on one path name both lines", () => {
    const text = `${lockAt("/system.slice/*.service")}directions = ["out"]\n\n${lockAt("/x")}\n${lockAt("/system.slice/*.service")}`;
    expect(firstError(text)).toBe(
      'policy.toml:9: lock[2].path: "/system.slice/*.service" already has a lock: lock[0] (line 1); merge the two into one [[lock]]; a path has at most one lock',
    );
  });
  test("the same rule twice; a different selector is a different rule", () => {
    const rule = '[[allow]]\npath = "/a"\nexe = "/bin/x"\n';
    expect(firstError(`${rule}${rule}`)).toBe("policy.toml:4: allow[1]: the same rule as allow[0] (line 1); remove one of them");
    expect(firstError(`${rule}${rule}uid = 0\n`)).toBe("ok");
    expect(firstError(`${rule}${rule.replace("allow", "delegate")}`)).toBe("ok");
  });
  test("a key given twice (TOML says no), also in JSON where JSON.parse would keep the last", () => {
    expect(firstError(`${lockAt("/a")}mode = "audit"\nmode = "enforce"\n`)).toBe("policy.toml:4: lock[0].mode: 'mode' is given twice (first at line 3); give each key once");
    expect(firstError('{\n  "lock": [],\n  "lock": []\n}', "p.json")).toBe("p.json:3: lock: 'lock' is given twice (first at line 2); give each key once");
  });
  test("every problem is collected, sorted by line; the error is the first, exit code 1", () => {
    const text = '[[allow]]\npath = "rel"\nusr = 1\n\n[[lock]]\npath = "/a/"\ndirections = ["up"]\n';
    expect(allErrors(text)).toEqual([
      "policy.toml:1: allow[0]: no exe, uid, user, cgroup or pid; give at least one of exe, uid, user, cgroup, pid",
      "policy.toml:2: allow[0].path: \"rel\" is not a valid cgroup path; a cgroup path starts with '/', e.g. /system.slice/foo.service",
      "policy.toml:3: allow[0].usr: unknown key 'usr'; allowed keys: path, exe, uid, user, cgroup, pid",
      "policy.toml:6: lock[0].path: \"/a/\" is not a valid cgroup path; components are separated by one '/' and the path does not end in '/' (except '/' itself)",
      'policy.toml:7: lock[0].directions[0]: unknown value "up"; give one of "in", "out", "within"',
    ]);
    try {
      parsePolicyFile(text, "policy.toml");
    } catch (e) {
      expect(e).toBeInstanceOf(CliError);
      expect((e as CliError).exitCode).toBe(1);
      expect((e as PolicyFileError).problems).toHaveLength(5);
      expect((e as Error).message).toBe(allErrors(text)[0]!);
    }
  });
  test("messages stay on one line whatever the file holds", () => {
    const msg = firstError('[[lock]]\npath = "/a\\n\\u0000b"\n[[lock]]\n"we\\nird" = 1\n');
    expect(msg).not.toContain("\n");
    expect(allErrors('[[lock]]\npath = "/a"\n"we\\nird" = 1\n')).toEqual(['policy.toml:3: lock[0]."we\\nird": unknown key \'we\\nird\'; allowed keys: path, directions, mode']);
  });
  test("locate() gives the same prefix for problems found when applying", () => {
    const doc = parsePolicyFile(`${lockAt("/a")}\n[[allow]]\npath = "/a"\nuser = "backup"\n`, "policy.toml");
    expect(locate(doc, "allow", 0, "user")).toBe("policy.toml:6: allow[0].user");
    expect(locate(doc, "allow", 0)).toBe("policy.toml:4: allow[0]");
    expect(locate(doc, "lock", 0, "mode")).toBe("policy.toml:1: lock[0].mode"); // a default: the entry's line
    expect(() => locate(doc, "delegate", 0)).toThrow(RangeError);
  });
});

describe("JSON", () => {
  const text = `{
  "settings": { "record": "all" },
  "lock": [
    {
      "path": "/a",
      "directions": [
        "in",
        "out"
      ]
    },
    { "path": "/b", "mode": "audit" }
  ],
  "allow": [{ "path": "/a", "uid": 0 }]
}
`;
  test("every value has its line: keys by the key, items by the item", () => {
    const { lines } = parseJson(text);
    expect(Object.fromEntries(lines)).toEqual({
      "": 1, "/settings": 2, "/settings/record": 2, "/lock": 3, "/lock/0": 4, "/lock/0/path": 5, "/lock/0/directions": 6,
      "/lock/0/directions/0": 7, "/lock/0/directions/1": 8, "/lock/1": 11, "/lock/1/path": 11, "/lock/1/mode": 11, "/allow": 13,
      "/allow/0": 13, "/allow/0/path": 13, "/allow/0/uid": 13,
    });
  });
  test("problems carry JSON lines", () => {
    expect(firstError(text.replace('"out"', '"o"'), "p.json")).toBe('p.json:8: lock[0].directions[1]: unknown value "o"; give one of "in", "out", "within"');
    const doc = parsePolicyFile(text, "p.json");
    expect(locate(doc, "lock", 1, "mode")).toBe("p.json:11: lock[1].mode");
  });
  test("syntax errors carry lines too (Bun's JSON.parse gives none)", () => {
    const cases: [string, string][] = [
      ['{\n  "lock": [\n    { "path": "/a" }\n    { "path": "/b" }\n  ]\n}', "p.json:3: invalid JSON: expected ',' or ']' after the list item; separate entries with ','"],
      ['{\n  "lock": [\n    { "path": "/a" },\n  ]\n}', "p.json:3: invalid JSON: a trailing ',' before ']'; JSON allows no ',' before ']'; remove it"],
      ['{\n  "settings": {},\n}', "p.json:2: invalid JSON: a trailing ',' before '}'; JSON allows no ',' before '}'; remove it"],
      ['{\n  // locks\n  "lock": []\n}', "p.json:2: invalid JSON: JSON has no comments; remove the comment, or write the policy in TOML, which has them"],
      ['{\n  "lock": [{"path": "/a}]\n}', "p.json:2: invalid JSON: the string is not closed on its line; end it with \""],
      ["{\n  lock: []\n}", "p.json:2: invalid JSON: expected a quoted key; write keys in double quotes: \"path\""],
      ['{\n  "lock": [\n', "p.json:3: invalid JSON: unexpected end of file; complete the policy, or close the brackets left open"],
      ['{"a": "\\x"}', "p.json:1: invalid JSON: invalid escape '\\x'; escapes are \\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX"],
      ["{} {}", "p.json:1: invalid JSON: unexpected text after the end of the policy; a policy file is one JSON object"],
    ];
    for (const [bad, message] of cases) expect(firstError(bad, "p.json")).toBe(message);
  });
  test("whatever JSON.parse accepts, the line scan accepts (and reads alike)", () => {
    const samples = ['{"a": [1, -2.5e3, true, false, null, "\\u00e9\\n\\"", {}, []]}', " \n{ } \n", '{"\\u0061": {"b": [[], [{}]]}}'];
    for (const s of samples) expect(parseJson(s).data).toEqual(JSON.parse(s));
  });
  test("a top-level list is a schema problem, not a crash", () => {
    expect(firstError("[]", "p.json")).toBe("p.json:1: (top level): expected a table, got a list; give a table");
  });
});

describe("TOML reader", () => {
  test("reads what Bun.TOML.parse reads, for the features policies use", () => {
    const samples = [
      'a = "basic \\"q\\" \\\\ \\t \\u00e9 \\U0001F600"\nb = \'literal \\ no escapes\'\n',
      "n = 1_000\nm = -5\np = +7\nz = 0\nt = true\nf = false\n",
      '"quoted key" = 1\n\'lit key\' = 2\nbare-key_1 = 3\n',
      "x = [\n  1, # one\n  2,\n  # comment line\n  3,\n]\ny = []\nz = [[1], [\"a\", 'b']]\n",
      'i = { a = 1, b = "x", c = { d = [1] } }\ne = {}\n',
      "lock = [\n  { path = \"/a\", directions = [\"out\"] },\n  {\n    path = \"/b\", # TOML 1.1\n    mode = \"audit\",\n  },\n]\n",
      "a.b.c = 1\na.b.d = 2\n",
      "[t]\nk = 1\n[t.sub]\nk = 2\n[u.v.w]\nk = 3\n[u]\nk = 4\n",
      '[[lock]]\npath = "/a"\n[lock.extra]\nk = 1\n[[lock]]\npath = "/b"\n',
      "\uFEFF# bom\r\nk = 1\r\n[s]\r\nv = 'x'\r\n",
      "k=1#tight\n[ s ]  # spaced header\n",
    ];
    for (const s of samples) expect(parseToml(s).data).toEqual(Bun.TOML.parse(s));
  });
  test("records the line of every value and header", () => {
    const { lines } = parseToml('# top\n[settings]\nmode = "audit"\n\n[[lock]]\npath = "/a"\ndirections = [\n  "in",\n  "out",\n]\n[[lock]]\ni = { path = "/b" }\n');
    expect(Object.fromEntries(lines)).toEqual({
      "": 1, "/settings": 2, "/settings/mode": 3, "/lock": 5, "/lock/0": 5, "/lock/0/path": 6, "/lock/0/directions": 7,
      "/lock/0/directions/0": 8, "/lock/0/directions/1": 9, "/lock/1": 11, "/lock/1/i": 12, "/lock/1/i/path": 12,
    });
  });
  // Valid TOML (1.0, or 1.1 as Bun reads it) that policy files do not use: refused by name.
  const outsideSubset: [string, string][] = [
    ['k = """a"""', "policy.toml:1: invalid TOML: multi-line strings are not used in policy files; write the string on one line"],
    ["k = 1.5", "policy.toml:1: invalid TOML: 1.5 is not a decimal integer; policy files use only whole numbers in decimal, like 1000 (no floats, dates, 0x...)"],
    ["k = 0x10", "policy.toml:1: invalid TOML: 0x10 is not a decimal integer; policy files use only whole numbers in decimal, like 1000 (no floats, dates, 0x...)"],
  ];
  for (const [text, message] of outsideSubset)
    test(`refuses ${JSON.stringify(text)}, outside the subset`, () => {
      expect(() => Bun.TOML.parse(text)).not.toThrow();
      expect(firstError(text, "policy.toml", "toml")).toBe(message);
    });
  // Invalid TOML.
  const errors: [string, string][] = [
    ["k = 007", "policy.toml:1: invalid TOML: 007 is not a decimal integer; policy files use only whole numbers in decimal, like 1000 (no floats, dates, 0x...)"],
    ["k = 99999999999999999999", "policy.toml:1: invalid TOML: 99999999999999999999 is too large an integer; give at most 9007199254740991"],
    ['\nk = "open', 'policy.toml:2: invalid TOML: the string is not closed on its line; end it with "'],
    ['k = "\\q"', "policy.toml:1: invalid TOML: invalid escape '\\q'; escapes are \\\\ \\\" \\b \\t \\n \\f \\r \\uXXXX \\UXXXXXXXX; or use a 'literal string'"],
    ['k = "\\uD800"', "policy.toml:1: invalid TOML: invalid escape '\\uD800'; escapes are \\\\ \\\" \\b \\t \\n \\f \\r \\uXXXX \\UXXXXXXXX; or use a 'literal string'"],
    ["k = audit", "policy.toml:1: invalid TOML: unquoted text 'audit'; put text in quotes: \"audit\""],
    ["k = ", "policy.toml:1: invalid TOML: expected a value"],
    ["k = 1 2", "policy.toml:1: invalid TOML: unexpected '2' where the line should end; put each key = value, and each [table], on a line of its own"],
    ["k = [1, 2", "policy.toml:1: invalid TOML: the list is not closed; end the list with ']'"],
    ["k = [1 2]", "policy.toml:1: invalid TOML: expected ',' or ']' in the list; separate items with ',' and end the list with ']'"],
    ["k = { a = 1 b = 2 }", "policy.toml:1: invalid TOML: expected ',' or '}' in the inline table; separate key = value pairs with ','"],
    ["k = { a = 1,\n", "policy.toml:2: invalid TOML: the inline table is not closed; end it with '}'"],
    ["k = { a = 1, a = 2 }", "policy.toml:1: k.a: 'a' is given twice (first at line 1); give each key once"],
    ["[settings\nmode = 1", "policy.toml:1: invalid TOML: expected ']' to close the table header"],
    ["[settings]\n\n[settings]", "policy.toml:3: settings: [settings] is already defined (line 1); give each table once; repeat [[name]] for a list of tables"],
    ["[lock]\n[[lock]]", "policy.toml:2: lock: 'lock' is already defined, and not as [[lock]] (line 1); give each table once; repeat [[name]] for a list of tables"],
    ["[[lock]]\n[lock]", "policy.toml:2: lock: [lock] is already defined (line 1); give each table once; repeat [[name]] for a list of tables"],
    ["a.b = 1\n[a]", "policy.toml:2: a: [a] is already defined (line 1); give each table once; repeat [[name]] for a list of tables"],
    ["a = { b = 1 }\n[a.c]", "policy.toml:2: a: 'a' is already a value, not a table (line 1); give each table once; repeat [[name]] for a list of tables"],
    ["a = 1\na.b = 2", "policy.toml:2: a: 'a' is already defined (line 1); give each table once; repeat [[name]] for a list of tables"],
    ["= 1", "policy.toml:1: invalid TOML: unexpected '=' where a key belongs; keys are letters, digits, '_' and '-', or quoted"],
    ['k = "tab\tok"\nc = "bell\u0007"', "policy.toml:2: invalid TOML: a control character inside a string; write it as an escape, like \\u0001"],
  ];
  for (const [bad, message] of errors)
    test(`refuses ${JSON.stringify(bad)}`, () => {
      expect(firstError(bad, "policy.toml", "toml")).toBe(message);
      expect(() => Bun.TOML.parse(bad)).toThrow(); // an independent reader refuses them too
    });
});

describe("format guessing", () => {
  test(".json names JSON; otherwise the first character decides; an explicit format wins", () => {
    expect(guessFormat("[settings]", "policy.json")).toBe("json");
    expect(guessFormat("  \n{", "-")).toBe("json");
    expect(guessFormat("\uFEFF{}", "-")).toBe("json");
    expect(guessFormat("[settings]", "-")).toBe("toml");
    expect(guessFormat("", "-")).toBe("toml");
    expect(guessFormat('{"lock": []}', "policy.toml")).toBe("json");
    expect(firstError("{}", "x", "toml")).toBe("x:1: invalid TOML: unexpected '{' where a key belongs; keys are letters, digits, '_' and '-', or quoted");
  });
});

describe("the schema and its interpreter", () => {
  test("the schema is draft 2020-12 with an id, and describes every property", () => {
    expect(POLICY_SCHEMA.$schema).toBe("https://json-schema.org/draft/2020-12/schema");
    expect(POLICY_SCHEMA.$id).toBe("https://cgwarden.dev/policy.schema.json");
    const undescribed: string[] = [];
    const walk = (s: unknown, at: string) => {
      if (typeof s !== "object" || s === null) return;
      const o = s as Record<string, unknown>;
      for (const [k, p] of Object.entries((o.properties ?? {}) as Record<string, unknown>)) {
        if (typeof (p as Record<string, unknown>).description !== "string") undescribed.push(`${at}/properties/${k}`);
        walk(p, `${at}/properties/${k}`);
      }
      for (const [k, d] of Object.entries((o.$defs ?? {}) as Record<string, unknown>)) walk(d, `${at}/$defs/${k}`);
    };
    walk(POLICY_SCHEMA, "#");
    expect(undescribed).toEqual([]);
    expect(POLICY_SCHEMA.additionalProperties).toBe(false);
    expect(JSON.parse(JSON.stringify(POLICY_SCHEMA))).toEqual(POLICY_SCHEMA as never); // plain JSON, printable as is
  });
  test("refuses a schema using a keyword it does not implement, or a bad form of one", () => {
    expect(() => compileSchema({ type: "object", patternProperties: {} })).toThrow("keyword 'patternProperties' is not implemented");
    expect(() => compileSchema({ properties: { a: { if: {} } } })).toThrow("schema #/properties/a: keyword 'if' is not implemented");
    expect(() => compileSchema({ $defs: { a: { dependentRequired: {} } } })).toThrow("#/$defs/a");
    expect(() => compileSchema({ format: "email" })).toThrow("no check for format 'email'");
    expect(() => compileSchema({ $ref: "https://example.com/s.json" })).toThrow("must name an entry of #/$defs");
    expect(() => compileSchema({ additionalProperties: { type: "string" } })).toThrow("'additionalProperties' must be true or false");
    expect(() => compileSchema({ type: ["string", "null"] })).toThrow("'type' must be one type name");
    expect(() => compileSchema({ maxLength: "3" })).toThrow("'maxLength' must be a number");
    expect(() => compileSchema({ pattern: "(" })).toThrow();
    expect(() => compileSchema(POLICY_SCHEMA)).toThrow("no check for format 'cgwarden-cgroup-path'"); // parse.ts supplies it
  });

  const v = (schema: object, value: unknown) => compileSchema(schema)(value).map((p) => `${p.pointer} ${p.message}; ${p.fix}`);
  test("type, integer vs number", () => {
    expect(v({ type: "integer" }, 1)).toEqual([]);
    expect(v({ type: "integer" }, 1.5)).toEqual([" expected an integer, got a number (1.5); give an integer"]);
    expect(v({ type: "number" }, 1)).toEqual([]);
    expect(v({ type: "boolean" }, "x")).toEqual([' expected true or false, got a string ("x"); give true or false']);
    expect(v({ type: "null" }, null)).toEqual([]);
  });
  test("properties, required, additionalProperties", () => {
    const s = { type: "object", additionalProperties: false, required: ["a"], properties: { a: { type: "string", description: "The A." }, b: { type: "integer" } } };
    expect(v(s, { a: "x", b: 1 })).toEqual([]);
    expect(v(s, { b: "1", "c/d": 0 })).toEqual(["/c~1d unknown key 'c/d'; allowed keys: a, b", " missing required key 'a'; add a: the A", '/b expected an integer, got a string ("1"); write the number without quotes: 1']);
    expect(v({ type: "object" }, { anything: 1 })).toEqual([]);
  });
  test("items, minItems, maxItems, uniqueItems", () => {
    const s = { type: "array", items: { type: "integer" }, minItems: 2, maxItems: 3, uniqueItems: true };
    expect(v(s, [1, 2])).toEqual([]);
    expect(v(s, [1])).toEqual([" has 1 items, fewer than 2; give at least 2"]);
    expect(v(s, [1, 2, 3, 4])).toEqual([" has 4 items, more than 3; give at most 3"]);
    expect(v(s, [1, "x", 1])).toEqual(["/2 1 is listed twice; list each once", '/1 expected an integer, got a string ("x"); give an integer']);
    expect(v({ type: "array", uniqueItems: true }, [{ a: [1] }, { a: [1] }])).toEqual(["/1 a table is listed twice; list each once"]);
  });
  test("enum, const", () => {
    expect(v({ enum: ["a", 1] }, 1)).toEqual([]);
    expect(v({ enum: ["a", 1] }, "1")).toEqual([' unknown value "1"; give one of "a", 1']);
    expect(v({ const: "x" }, "y")).toEqual([' "y" is not allowed here; give "x"']);
    expect(v({ const: "x" }, "x")).toEqual([]);
  });
  test("pattern, minLength, maxLength (in characters); title and description word the problem", () => {
    const s = { type: "string", title: "code", minLength: 2, maxLength: 3, pattern: "^[a-z]+$", description: "lower-case letters" };
    expect(v(s, "ab")).toEqual([]);
    expect(v(s, "")).toEqual([" is empty; give at least 2 characters", ' "" is not a valid code; lower-case letters']);
    expect(v(s, "a")).toEqual([" is shorter than 2 characters; give at least 2 characters"]);
    expect(v(s, "abcd")).toEqual([" is too long (4 characters); a code has at most 3 characters"]);
    expect(v(s, "😀😀")).toEqual([' "😀😀" is not a valid code; lower-case letters']); // 2 characters, 4 UTF-16 units
  });
  test("minimum, maximum", () => {
    expect(v({ type: "integer", minimum: 1 }, 0)).toEqual([" 0 is out of range; give an integer of at least 1"]);
    expect(v({ type: "number", maximum: 1 }, 2)).toEqual([" 2 is out of range; give a number of at most 1"]);
  });
  test("allOf reports the first broken branch only", () => {
    const s = { allOf: [{ type: "string", description: "one", pattern: "^a" }, { pattern: "b$", description: "two" }] };
    expect(v(s, "zz")).toEqual([' "zz" is not a valid value; one']);
    expect(v(s, "az")).toEqual([' "az" is not a valid value; two']);
    expect(v(s, "ab")).toEqual([]);
  });
  test("anyOf and oneOf over required keys: one message naming the keys", () => {
    const any = { type: "object", anyOf: [{ required: ["x"] }, { required: ["y"] }] };
    expect(v(any, { x: 1, y: 1 })).toEqual([]);
    expect(v(any, {})).toEqual([" no x or y; give at least one of x, y"]);
    const one = { type: "object", oneOf: [{ required: ["x"] }, { required: ["y"] }, { required: ["z"] }] };
    expect(v(one, { y: 1 })).toEqual([]);
    expect(v(one, { x: 1, z: 1 })).toEqual([" x and z are both given; give only one of x, y, z"]);
    expect(v(one, {})).toEqual([" no x, y or z; give at least one of x, y, z"]);
  });
  test("anyOf and oneOf in general: the closest branch speaks", () => {
    const s = { anyOf: [{ type: "integer", minimum: 10 }, { type: "string" }] };
    expect(v(s, 5)).toEqual([" 5 is out of range; give an integer of at least 10"]);
    expect(v({ oneOf: [{ type: "integer" }, { type: "number" }] }, 1)).toEqual([" matches 2 alternatives where one is expected; make it match exactly one"]);
  });
  test("not", () => {
    expect(v({ type: "object", not: { required: ["a", "b"] } }, { a: 1, b: 2 })).toEqual([" a and b are both given; give only one of a, b"]);
    expect(v({ type: "object", not: { required: ["a", "b"] } }, { a: 1 })).toEqual([]);
    expect(v({ description: "anything but 3", not: { const: 3 } }, 3)).toEqual([" 3 is not allowed here; anything but 3"]);
  });
  test("$ref to $defs, and format checks that run only on values the schema accepted", () => {
    const calls: string[] = [];
    const validate = compileSchema(
      { $defs: { p: { type: "string", pattern: "^/", format: "f" } }, type: "array", items: { $ref: "#/$defs/p" } },
      { f: (s) => (calls.push(s), s.length > 3 ? { message: "too long for f", fix: "shorten" } : undefined) },
    );
    expect(validate(["/ab", "/abcd", "x", 1]).map((p) => `${p.pointer} ${p.message}`)).toEqual([
      "/1 too long for f", '/2 "x" is not a valid value', "/3 expected a string, got an integer (1)",
    ]);
    expect(calls).toEqual(["/ab", "/abcd"]);
  });
});

describe("canonical export", () => {
  const tricky: PolicyDocumentLike = {
    settings: { mode: "audit", record: "all" },
    locks: [
      { path: "/z.slice", directions: ["within", "in"], mode: "audit" },
      { path: '/a "quoted" \\ back\\slash', directions: ["out"], mode: "enforce" },
      { path: "/ünïcödé/😀*.scope", directions: ["in", "out", "within"], mode: "enforce" },
    ],
    allows: [
      { path: "/b", uid: 7 },
      { path: "/b", exe: "/usr/bin/x y'z\"", user: "svc.user" },
      { path: "/a#not-a-comment = [x]", cgroup: "/c/*", pid: 42 },
    ],
    delegates: [{ path: "/*", exe: "/opt/é/run" }],
    seal: { managers: ["/usr/sbin/z", "/usr/lib/systemd/systemd"], manager_pids: [1], until_reboot: false, lock_bpf: true },
  };
  test("TOML export reads back to the same policy, sorted, and is byte-stable", () => {
    const toml = formatToml(tricky);
    const back = content(parsePolicyFile(toml, "export.toml"));
    expect(back.locks.map((l) => l.path)).toEqual(['/a "quoted" \\ back\\slash', "/z.slice", "/ünïcödé/😀*.scope"]);
    expect(back.locks[1]!.directions).toEqual(["in", "within"]);
    expect(back.allows.map((a) => a.path)).toEqual(["/a#not-a-comment = [x]", "/b", "/b"]);
    // Same path: by selectors in schema order, an absent one first.
    expect(back.allows.slice(1)).toEqual([{ path: "/b", uid: 7 }, { path: "/b", exe: "/usr/bin/x y'z\"", user: "svc.user" }]);
    expect(formatToml(back)).toBe(toml);
    expect(formatJson(back)).toBe(formatJson(tricky));
  });
  test("JSON export reads back alike, and both exports hold the same data", () => {
    const json = formatJson(tricky);
    expect(content(parsePolicyFile(json, "export.json"))).toEqual(content(parsePolicyFile(formatToml(tricky), "export.toml")));
    expect(Bun.TOML.parse(formatToml(tricky))).toEqual(JSON.parse(json)); // an independent TOML reader agrees on the escaping
  });
  test("the TOML export has a fixed header, settings always, every default written", () => {
    const toml = formatToml({ settings: { mode: "enforce", record: "denials" }, locks: [{ path: "/a", directions: ["in", "out", "within"], mode: "enforce" }], allows: [], delegates: [], seal: null });
    expect(toml).toBe(
      '# cgwarden policy, exported (canonical: same policy, same bytes)\n\n[settings]\nmode = "enforce"\nrecord = "denials"\n\n[[lock]]\npath = "/a"\ndirections = ["in", "out", "within"]\nmode = "enforce"\n',
    );
  });
  test("strings TOML must escape are escaped; half a surrogate pair is refused, not mangled", () => {
    expect(tomlString('a"b\\c\td\n\u0001\u007fé')).toBe('"a\\"b\\\\c\\td\\n\\u0001\\u007fé"');
    expect(Bun.TOML.parse(`k = ${tomlString('a"b\\c\td\n\u0001\u007fé')}`)).toEqual({ k: 'a"b\\c\td\n\u0001\u007fé' });
    expect(() => tomlString("/a\ud800")).toThrow("surrogate");
  });

  // Property-style: random policies from a seeded generator, any order in, one text out.
  function* randomDocs(count: number): Generator<PolicyDocumentLike> {
    let seed = 12345;
    const rand = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % n);
    const pick = <T,>(xs: readonly T[]) => xs[rand(xs.length)]!;
    const chars = ["a", "b", "Z", "0", "-", "_", ".", " ", "'", '"', "\\", "#", "=", "[", "]", "{", ",", "é", "ß", "😀", "中"];
    const component = () => Array.from({ length: 1 + rand(6) }, () => pick(chars)).join("").replace(/^\.{1,2}$/, "x");
    // Plain paths, single-level templates, and recursive ones (`**` before a `prefix*suffix` last component).
    const path = () => {
      const base = `/${Array.from({ length: 1 + rand(3) }, component).join("/")}`;
      const roll = rand(6);
      return roll === 0 ? `${base}*` : roll === 1 ? `${base}/**/${component().replace(/\*/g, "")}*` : base;
    };
    for (let n = 0; n < count; n++) {
      const locks = [...new Map(Array.from({ length: rand(5) }, () => {
        const dirs = (["in", "out", "within"] as const).filter(() => rand(2) === 0);
        return [path(), { directions: dirs.length ? dirs : (["out"] as const), mode: pick(["enforce", "audit"] as const) }] as const;
      }))].map(([p, l]) => ({ path: p, directions: [...l.directions], mode: l.mode }));
      const gate = (): GateEntryLike => {
        const g: GateEntryLike = { path: path() };
        if (rand(2)) g.exe = `/usr/${component()}`;
        if (rand(3) === 0) g.uid = rand(70000);
        else if (rand(3) === 0) g.user = pick(["root", "backup", "svc.1", "a-b_c"]);
        if (rand(3) === 0) g.cgroup = path();
        if (rand(4) === 0 || Object.keys(g).length === 1) g.pid = 1 + rand(4194304);
        return g;
      };
      const unique = (gs: GateEntryLike[]) => [...new Map(gs.map((g) => [JSON.stringify(g), g])).values()];
      yield {
        settings: { mode: pick(["enforce", "audit"] as const), record: pick(["denials", "all"] as const) },
        locks,
        allows: unique(Array.from({ length: rand(5) }, gate)),
        delegates: unique(Array.from({ length: rand(3) }, gate)),
        seal: rand(3)
          ? null
          : rand(3) === 0
            ? { managers: [], manager_pids: [], until_reboot: true, lock_bpf: rand(2) === 0 }
            : {
                managers: [...new Set(Array.from({ length: 1 + rand(3) }, () => `/usr/${component()}`))],
                manager_pids: [...new Set(Array.from({ length: rand(3) }, () => 1 + rand(4194304)))],
                until_reboot: false,
                lock_bpf: rand(2) === 0,
              },
      };
    }
  }
  const shuffled = <T,>(xs: readonly T[]) => [...xs].reverse();
  const asSet = (doc: PolicyDocumentLike) => ({
    settings: doc.settings,
    locks: doc.locks.map((l) => JSON.stringify([l.path, [...l.directions].sort(), l.mode])).sort(),
    allows: doc.allows.map((g) => JSON.stringify(g, Object.keys(POLICY_SCHEMA.$defs.gate.properties))).sort(),
    delegates: doc.delegates.map((g) => JSON.stringify(g, Object.keys(POLICY_SCHEMA.$defs.gate.properties))).sort(),
  });
  test("random policies: export, read back, same policy; input order does not matter; both formats agree", () => {
    let checked = 0;
    for (const doc of randomDocs(200)) {
      const toml = formatToml(doc);
      const json = formatJson(doc);
      const fromToml = content(parsePolicyFile(toml, "r.toml"));
      expect(asSet(fromToml)).toEqual(asSet(doc));
      expect(content(parsePolicyFile(json, "r.json"))).toEqual(fromToml);
      expect({ lock: [], allow: [], delegate: [], ...Bun.TOML.parse(toml) }).toEqual(JSON.parse(json)); // JSON writes empty lists
      expect(formatToml(fromToml)).toBe(toml);
      const reordered = { ...doc, locks: shuffled(doc.locks), allows: shuffled(doc.allows), delegates: shuffled(doc.delegates) };
      expect(formatToml(reordered)).toBe(toml);
      const paths = fromToml.locks.map((l) => l.path);
      expect(paths).toEqual([...paths].sort());
      checked += doc.locks.length + doc.allows.length + doc.delegates.length;
    }
    expect(checked).toBeGreaterThan(400);
  });
});
