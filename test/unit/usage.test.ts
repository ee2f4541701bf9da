// Help, completions and the man page come from the command definitions: each
// must name every command and every option the parser accepts.
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runCli } from "../../cli/main.ts";
import { setSink } from "../../cli/output.ts";
import { commandModules } from "../../cli/commands/index.ts";
import { SHELLS, completionScript } from "../../cli/usage/completion.ts";
import { manPage, readmeSection } from "../../cli/usage/manpage.ts";
import { commandSpecs } from "../../cli/commands/_specs.ts";
import { ROOT } from "../../scripts/project.ts";

const specs = await commandSpecs();

async function cli(...args: string[]) {
  const out: string[] = [];
  setSink({ out: (l) => out.push(l), err: (l) => out.push(l) });
  try {
    return { code: await runCli(args), out: out.join("\n") };
  } finally {
    setSink(null);
  }
}

test("the specs cover every registered command, with options", () => {
  expect(specs.map((s) => s.name as string).sort()).toEqual(Object.keys(commandModules).sort());
  expect(specs.find((s) => s.name === "lock")!.options.map((o) => o.name)).toEqual(expect.arrayContaining(["in", "out", "within", "audit", "json"]));
});

describe.each(SHELLS)("%s completion", (shell) => {
  const script = completionScript(shell, specs);
  test("lists every command and every option of each", () => {
    for (const c of specs) {
      expect(script).toContain(c.name);
      for (const o of c.options) expect({ command: c.name, option: o.name, found: script.includes(shell === "fish" ? `-l ${o.name}` : `--${o.name}`) }).toMatchObject({ found: true });
    }
  });
  test("offers the fixed choices of an option", () => {
    expect(script).toContain("threads");
    expect(script).toContain("clone");
  });
  test("is what 'cgwarden completion' prints", async () => {
    const r = await cli("completion", shell);
    expect(r.code).toBe(0);
    expect(r.out).toBe(script.trimEnd());
  });
});

test("the bash script parses", () => {
  const dir = mkdtempSync(join(tmpdir(), "cgw-completion-"));
  writeFileSync(join(dir, "c.bash"), completionScript("bash", specs));
  const p = Bun.spawnSync(["bash", "-n", join(dir, "c.bash")], { stderr: "pipe" });
  rmSync(dir, { recursive: true, force: true });
  expect(p.stderr.toString()).toBe("");
  expect(p.exitCode).toBe(0);
});

test("an unknown shell is a usage error", async () => {
  expect((await cli("completion", "tcsh")).code).toBe(2);
});

describe("cgwarden(8)", () => {
  const semantics = readmeSection(readFileSync(join(ROOT, "README.md"), "utf8"), "Semantics");
  const roff = manPage(specs, semantics, "0.0.0", "2026-11-29");
  const dir = mkdtempSync(join(tmpdir(), "cgw-man-"));
  const file = join(dir, "cgwarden.8");
  writeFileSync(file, roff);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test("renders with man -l, naming every command and option", () => {
    const p = Bun.spawnSync(["man", "-l", file], { env: { ...process.env, MANWIDTH: "100", MAN_KEEP_FORMATTING: "" }, stdout: "pipe", stderr: "pipe" });
    expect(p.exitCode).toBe(0);
    const page = p.stdout.toString().replace(/.\x08/g, "");
    for (const h of ["NAME", "SYNOPSIS", "COMMANDS", "SEMANTICS", "EXIT STATUS"]) expect(page).toContain(h);
    for (const c of specs) {
      expect(page).toContain(c.name);
      for (const o of c.options) expect(page).toContain(`--${o.name}`);
    }
    expect(page).toContain("A migration is (actor, task, src, dst, via)");
  });

  test("groff finds nothing to warn about", () => {
    const p = Bun.spawnSync(["groff", "-man", "-ww", "-z", file], { stderr: "pipe" });
    expect(p.stderr.toString()).toBe("");
  });
});

test("--help shows examples, and no colour codes when stdout is a pipe", () => {
  // A process of its own: colour is decided once per process, when citty is first loaded.
  const env = { ...process.env };
  delete env.NO_COLOR;
  for (const args of [["lock", "--help"], ["--help"]]) {
    const p = Bun.spawnSync([process.execPath, join(ROOT, "cli/main.ts"), ...args], { env, stdout: "pipe", stderr: "pipe" });
    const out = p.stdout.toString();
    expect(p.exitCode).toBe(0);
    expect(out).toContain("EXAMPLES");
    expect(out).not.toContain("\x1b[");
  }
  for (const c of specs) expect(c.examples.length).toBeGreaterThan(0);
});
