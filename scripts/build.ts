#!/usr/bin/env bun
// Builds embedded/cgwarden.bpf.o and cli/object/header.ts from bpf/, and
// dist/cgwarden from cli/.
//
//   bun scripts/build.ts             object and header.ts (if sources changed) + executable
//   bun scripts/build.ts --bpf-only  object and header.ts only
//   bun scripts/build.ts --verify    fail if embedded/ or header.ts does not match bpf/
//
// Both are committed so that building the CLI needs no clang; the stamp
// beside the object records what it was built from, and --verify rebuilds
// both and compares byte for byte, so neither can go stale unnoticed.
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync, existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { GENERATED, generateHeaderModule } from "./header-abi.ts";

import { ROOT, runOk } from "./project.ts";

const BPF_DIR = join(ROOT, "bpf");
const OBJECT = join(ROOT, "embedded", "cgwarden.bpf.o");
const STAMP = join(ROOT, "embedded", "cgwarden.bpf.stamp.json");
const CLANG = process.env.CLANG ?? "clang-16";
const STRIP = process.env.LLVM_STRIP ?? "llvm-strip-16";

interface Stamp {
  sources: string;
  compiler: string;
  object: string;
}

const sha256 = (data: Uint8Array | string) => createHash("sha256").update(data).digest("hex");

function sourcesDigest(): string {
  const h = createHash("sha256");
  for (const f of readdirSync(BPF_DIR).filter((n) => /\.(c|h)$/.test(n)).sort()) {
    h.update(`${f}\0`).update(readFileSync(join(BPF_DIR, f))).update("\0");
  }
  return h.digest("hex");
}

const run = (argv: string[], cwd = ROOT): string => runOk(argv, { cwd });

function compilerVersion(): string {
  return run([CLANG, "--version"]).split("\n")[0]!.trim();
}

/** Compiles into `out`. Paths are relative and prefix-mapped so any checkout gives the same bytes. */
function compileObject(out: string): void {
  run([
    CLANG,
    "-target", "bpf",
    "-g", "-O2",
    "-D__TARGET_ARCH_x86",
    "-I/usr/include/x86_64-linux-gnu",
    "-Ibpf",
    "-Wall", "-Werror",
    `-fdebug-prefix-map=${ROOT}=.`,
    "-c", "bpf/cgwarden.bpf.c",
    "-o", out,
  ]);
  // DWARF is not needed at run time; BTF and CO-RE relocations stay.
  run([STRIP, "-g", out]);
}

function readStamp(): Stamp | null {
  return existsSync(STAMP) ? (JSON.parse(readFileSync(STAMP, "utf8")) as Stamp) : null;
}

function buildObject(): void {
  const stamp = readStamp();
  const digest = sourcesDigest();
  if (stamp && stamp.sources === digest && existsSync(OBJECT) && sha256(readFileSync(OBJECT)) === stamp.object) {
    console.log("embedded/cgwarden.bpf.o is up to date");
    return;
  }
  writeFileSync(join(ROOT, GENERATED), generateHeaderModule(ROOT, CLANG));
  console.log(`wrote ${GENERATED} from bpf/cgwarden.h`);
  mkdirSync(join(ROOT, "embedded"), { recursive: true });
  compileObject(OBJECT);
  const next: Stamp = { sources: digest, compiler: compilerVersion(), object: sha256(readFileSync(OBJECT)) };
  writeFileSync(STAMP, `${JSON.stringify(next, null, 2)}\n`);
  console.log(`built embedded/cgwarden.bpf.o (${readFileSync(OBJECT).length} bytes)`);
}

function verify(): number {
  const stamp = readStamp();
  if (!stamp || !existsSync(OBJECT)) {
    console.error("embedded/ has no object or stamp: run 'bun run build:bpf' and commit embedded/");
    return 1;
  }
  const problems: string[] = [];
  if (stamp.sources !== sourcesDigest()) problems.push("bpf/ sources changed since embedded/cgwarden.bpf.o was built");
  if (sha256(readFileSync(OBJECT)) !== stamp.object) problems.push("embedded/cgwarden.bpf.o is not the object its stamp records");
  const dir = mkdtempSync(join(tmpdir(), "cgwarden-verify-"));
  try {
    const fresh = join(dir, "cgwarden.bpf.o");
    compileObject(fresh);
    if (sha256(readFileSync(fresh)) !== sha256(readFileSync(OBJECT)))
      problems.push(`rebuilding bpf/ with ${compilerVersion()} gives a different object than embedded/ holds`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const header = join(ROOT, GENERATED);
  if (!existsSync(header) || readFileSync(header, "utf8") !== generateHeaderModule(ROOT, CLANG))
    problems.push(`${GENERATED} is not what bpf/cgwarden.h generates`);
  if (problems.length) {
    for (const p of problems) console.error(`stale build output: ${p}`);
    console.error(`fix: run 'bun run build:bpf' and commit embedded/ and ${GENERATED}`);
    return 1;
  }
  console.log(`embedded/cgwarden.bpf.o and ${GENERATED} match bpf/ sources`);
  return 0;
}

function buildExecutable(): void {
  mkdirSync(join(ROOT, "dist"), { recursive: true });
  // Bytecode, full minification, and one chunk per lazily imported command, so a command loads
  // only its own code: start-up is most of a one-off command's time (see test/bench).
  // The executable reads nothing from where it runs: a bunfig.toml (preload = [...]) or .env in the
  // working directory would otherwise run code, or set its environment, inside a manager's cgwarden.
  const noAutoload = ["--no-compile-autoload-bunfig", "--no-compile-autoload-dotenv", "--no-compile-autoload-tsconfig", "--no-compile-autoload-package-json"];
  run([process.execPath, "build", "--compile", ...noAutoload, "--bytecode", "--splitting", "--format=esm", "--minify", "cli/main.ts", "--outfile", "dist/cgwarden"]);
  console.log("built dist/cgwarden");
}

/** cgwarden(8), the same page install-files installs (cli/install/layout.ts). */
async function buildManPage(): Promise<void> {
  const { manualPage } = await import("../cli/install/layout.ts");
  const { commandSpecs } = await import("../cli/commands/_specs.ts");
  writeFileSync(join(ROOT, "dist", "cgwarden.8"), manualPage(await commandSpecs()));
  console.log("built dist/cgwarden.8");
}

const args = new Set(process.argv.slice(2));
if (args.has("--verify")) process.exit(verify());
buildObject();
if (!args.has("--bpf-only")) {
  buildExecutable();
  await buildManPage();
}
