// /etc/cgwarden/policy.toml plus /etc/cgwarden/policy.d/*.toml as one policy:
// which files are read and in what order, what two files may both say, and
// how a disagreement is refused with both places named. Run in-process on
// the host: nothing here needs a kernel (apply --dry-run loads nothing).
import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readPolicyDocument, readPolicyFiles } from "../../cli/commands/_policy-text.ts";
import { documentOfSpec, specOfDocument } from "../../cli/policy/file/resolve.ts";
import { formatToml } from "../../cli/policy/file/format.ts";
import { parsePolicyFile } from "../../cli/policy/file/parse.ts";
import { captureCli } from "../support/capture.ts";

const TMP = mkdtempSync(join(tmpdir(), "cgw-dropins-"));
afterAll(() => rmSync(TMP, { recursive: true, force: true }));
let dirs = 0;

/** A policy directory: `files` maps names (policy.toml, policy.d/x.toml) to their text. */
function policyDir(files: Record<string, string>): string {
  const dir = join(TMP, `etc${++dirs}`);
  mkdirSync(join(dir, "policy.d"), { recursive: true });
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
}

const lock = (path: string, extra = "") => `[[lock]]\npath = "${path}"\n${extra}`;
const cli = (...args: string[]) => captureCli([...args, "--pin-dir", join(TMP, "no-pins")]);

describe("which files, in which order", () => {
  test("policy.toml first, then policy.d's *.toml and *.json in byte order; dot files and backups are not read", async () => {
    const dir = policyDir({
      "policy.toml": lock("/main"),
      "policy.d/20-b.toml": lock("/b"),
      "policy.d/10-a.json": '{"lock": [{"path": "/a"}]}',
      "policy.d/B-upper.toml": lock("/upper"),
      "policy.d/é-accent.toml": lock("/accent"),
      "policy.d/.hidden.toml": lock("/hidden"),
      "policy.d/30-c.toml~": lock("/editor-backup"),
      "policy.d/40-d.toml.dpkg-old": lock("/dpkg-old"),
      "policy.d/README": "not a policy",
    });
    symlinkSync(join(dir, "policy.d/20-b.toml"), join(dir, "policy.d/60-link.toml"));
    const names = (await readPolicyFiles([dir])).map((f) => f.name.slice(dir.length + 1));
    // Byte order: digits, then upper case, then lower case, then UTF-8 beyond ASCII, whatever the locale.
    expect(names).toEqual(["policy.toml", "policy.d/10-a.json", "policy.d/20-b.toml", "policy.d/60-link.toml", "policy.d/B-upper.toml", "policy.d/é-accent.toml"]);
  });

  test("drop-ins alone are a policy; files and directories given together are merged in the order given", async () => {
    const dir = policyDir({ "policy.d/10-a.toml": lock("/a") });
    const extra = join(TMP, "extra.toml");
    writeFileSync(extra, lock("/extra"));
    const { doc } = await readPolicyDocument([extra, dir]);
    expect(doc.locks.map((l) => l.path)).toEqual(["/extra", "/a"]);
    expect(doc.source).toBe(`${extra} ${dir} (2 files)`);
  });

  test("a drop-in that cannot be read (a link to nothing) fails the apply, naming it; its rules are never silently left out", async () => {
    const dir = policyDir({ "policy.toml": lock("/a") });
    symlinkSync("/nonexistent/x.toml", join(dir, "policy.d/10-gone.toml"));
    expect(await cli("apply", "--dry-run", dir)).toMatchObject({
      code: 1,
      err: `cgwarden: cannot read policy file ${join(dir, "policy.d/10-gone.toml")}: no such file; give the path of a TOML or JSON policy file, a directory of them, or - for standard input`,
    });
    // The same for policy.toml itself: drop-ins alone are not what the directory says.
    const main = policyDir({ "policy.d/10-x.toml": lock("/x") });
    symlinkSync("/nonexistent/policy.toml", join(main, "policy.toml"));
    expect((await cli("apply", "--dry-run", main)).err).toStartWith(`cgwarden: cannot read policy file ${join(main, "policy.toml")}: no such file`);
  });

  test("with --root, a drop-in's absolute symlink is followed as the system under the root sees it", async () => {
    const root = join(TMP, `root${++dirs}`);
    mkdirSync(join(root, "etc/cgwarden/policy.d"), { recursive: true });
    mkdirSync(join(root, "usr/share/site"), { recursive: true });
    writeFileSync(join(root, "etc/cgwarden/policy.toml"), lock("/a"));
    writeFileSync(join(root, "usr/share/site/10-shared.toml"), lock("/shared"));
    symlinkSync("/usr/share/site/10-shared.toml", join(root, "etc/cgwarden/policy.d/10-shared.toml"));
    const { doc } = await readPolicyDocument([join(root, "etc/cgwarden")], root);
    expect(doc.locks.map((l) => [l.path, l.source])).toEqual([
      ["/a", join(root, "etc/cgwarden/policy.toml")],
      ["/shared", join(root, "etc/cgwarden/policy.d/10-shared.toml")],
    ]);
    // Without --root the same link leads to this machine's /usr/share/site, where there is nothing.
    await expect(readPolicyDocument([join(root, "etc/cgwarden")])).rejects.toThrow("no such file");
  });

  test("standard input is a whole policy: given with files it is refused", async () => {
    expect(await cli("apply", "--dry-run", "-", "/etc")).toMatchObject({ code: 2, err: "cgwarden: - (standard input) is a whole policy: give it alone, or give files and directories" });
  });

  test("a directory with neither policy.toml nor drop-ins is refused, nothing applied", async () => {
    const dir = policyDir({ "policy.d/notes.txt": "x" });
    const r = await cli("apply", "--dry-run", dir);
    expect(r).toMatchObject({ code: 1, out: "" });
    expect(r.err).toContain(`${dir} is a directory without a policy: it has neither policy.toml nor policy.d/*.toml`);
  });
});

describe("what two files may both say", () => {
  test("the same lock, the same allow, and the same setting in two files are one each", async () => {
    const rule = '[[allow]]\npath = "/a"\nuid = 0\n';
    const dir = policyDir({
      "policy.toml": `[settings]\nmode = "audit"\n\n${lock("/a", 'directions = ["out"]\n')}\n${rule}`,
      "policy.d/10-x.toml": `[settings]\nmode = "audit"\nrecord = "all"\n\n${lock("/a", 'directions = ["out"]\n')}\n${rule}`,
    });
    const { doc } = await readPolicyDocument([dir]);
    expect({ settings: doc.settings, locks: doc.locks.length, allows: doc.allows.length }).toEqual({ settings: { mode: "audit", record: "all" }, locks: 1, allows: 1 });
    const r = await cli("apply", "--dry-run", "--json", dir);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out)).toMatchObject({ changed: true, dryRun: true, added: [{ kind: "lock", path: "/a" }, { kind: "allow", path: "/a" }], settings: { mode: "audit", record: "all" } });
  });

  test("a setting, a lock or a [seal] stated differently in two files is refused, naming both files and lines", async () => {
    const dir = policyDir({
      "policy.toml": `[settings]\nmode = "enforce"\n\n${lock("/a")}\n[seal]\nuntil_reboot = true\n`,
      "policy.d/10-x.toml": `\n[settings]\nmode = "audit"\n\n${lock("/b")}\n${lock("/a", 'mode = "audit"\n')}\n[seal]\nuntil_reboot = true\n`,
    });
    const main = join(dir, "policy.toml");
    const dropIn = join(dir, "policy.d/10-x.toml");
    const r = await cli("apply", dir);
    expect(r).toMatchObject({ code: 1, out: "" });
    // The first problem, on one line: the drop-in's place, then the other's.
    expect(r.err).toBe(`cgwarden: ${dropIn}:3: settings.mode: is "audit" here and "enforce" in ${main}:2; give the setting in one file (policy.toml), or the same value in both`);
    let problems: string[] = [];
    try {
      await readPolicyDocument([dir]);
    } catch (e) {
      problems = (e as { problems: { file: string; line: number; field: string; message: string }[] }).problems.map((p) => `${p.file.slice(dir.length + 1)}:${p.line}: ${p.field}: ${p.message}`);
    }
    expect(problems).toEqual([
      `policy.d/10-x.toml:3: settings.mode: is "audit" here and "enforce" in ${main}:2`,
      `policy.d/10-x.toml:9: lock[1].path: "/a" is locked differently in ${main}:4: lock[0] (there: directions in, out, within and mode enforce; here: directions in, out, within and mode audit)`,
      `policy.d/10-x.toml:12: seal: a second [seal]; the first is in ${main}:7`,
    ]);
  });

  test("templates that overlap across two files are refused at compile time, naming both files", async () => {
    const dir = policyDir({ "policy.toml": lock("/system.slice/*.service"), "policy.d/10-x.toml": `\n\n${lock("/system.slice/foo*")}` });
    const r = await cli("apply", "--dry-run", dir);
    expect(r.code).toBe(1);
    expect(r.err).toBe(
      `cgwarden: ${join(dir, "policy.d/10-x.toml")}:3: lock[0]: templates /system.slice/*.service and /system.slice/foo* can both match one cgroup (children of /system.slice); make them disjoint (a cgroup takes the rules of one template) (the other: ${join(dir, "policy.toml")}:1: lock[0])`,
    );
  });

  test("a problem inside a drop-in names that file, its line, and the entry's index in it", async () => {
    const dir = policyDir({ "policy.toml": `${lock("/a")}${lock("/b")}`, "policy.d/10-x.toml": `${lock("/c")}\n[[allow]]\npath = "/c"\nuser = "no-such-user-here"\n` });
    const r = await cli("apply", "--dry-run", dir);
    expect(r.code).toBe(1);
    expect(r.err).toStartWith(`cgwarden: ${join(dir, "policy.d/10-x.toml")}:6: allow[0].user: `);
  });
});

describe("where each rule came from", () => {
  test("each rule records its file, absolute, and its line; --root records the path as the mounted system names it", async () => {
    const dir = policyDir({ "policy.toml": `\n${lock("/a")}`, "policy.d/10-x.toml": '[[allow]]\npath = "/a"\nuid = 0\n' });
    const { doc } = await readPolicyDocument([dir]);
    expect(specOfDocument(doc).rules.map((r) => r.source)).toEqual([
      { file: join(dir, "policy.toml"), line: 2 },
      { file: join(dir, "policy.d/10-x.toml"), line: 1 },
    ]);
    expect(specOfDocument(doc, TMP).rules.map((r) => r.source?.file)).toEqual([`/etc${dirs}/policy.toml`, `/etc${dirs}/policy.d/10-x.toml`]);
    // Standard input names no file: its rules carry no source, and the store keeps what it knew.
    expect(specOfDocument(parsePolicyFile(lock("/a"), "-")).rules[0]!.source).toBeUndefined();
  });

  test("export --sources writes each rule's origin as a comment, and the file still applies to the same policy", async () => {
    const dir = policyDir({ "policy.toml": lock("/a"), "policy.d/10-x.toml": '[[allow]]\npath = "/a"\nuid = 0\n' });
    const spec = specOfDocument((await readPolicyDocument([dir])).doc);
    spec.rules.push({ kind: "lock", path: "/by-hand", directions: 2, mode: "enforce" });
    const text = formatToml(documentOfSpec(spec, true));
    expect(text).toContain(`\n# from ${join(dir, "policy.toml")}:1\n[[lock]]\npath = "/a"\n`);
    expect(text).toContain(`\n# from ${join(dir, "policy.d/10-x.toml")}:1\n[[allow]]\npath = "/a"\n`);
    expect(text).toContain('\n# from a command (cgwarden lock, allow or delegate), not a policy file\n[[lock]]\npath = "/by-hand"\n');
    expect(formatToml(documentOfSpec(specOfDocument(parsePolicyFile(text, "-"))))).toBe(formatToml(documentOfSpec(spec)));
    expect(await cli("export", "--sources", "--format", "json")).toMatchObject({ code: 2 });
  });
});
