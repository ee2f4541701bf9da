// Writes cli/object/header.ts from bpf/cgwarden.h, so that the header is the
// one contract between the BPF object and the CLI (as x.h is in libbpf-tools):
// every struct's layout as the compiler lays it out (read back from BTF),
// every enumerator, and every integer #define. Used by scripts/build.ts,
// which builds and verifies it with the object; test/unit/layout.test.ts
// checks the result against the C compiler's offsetof() besides.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runOk } from "./project.ts";

export const HEADER = "bpf/cgwarden.h";
export const GENERATED = "cli/object/header.ts";

interface BtfMember {
  name: string;
  type_id: number;
  bits_offset: number;
}
interface BtfType {
  id: number;
  kind: string;
  name: string;
  size?: number;
  type_id?: number;
  nr_elems?: number;
  members?: BtfMember[];
  values?: { name: string; val: number }[];
}

type Scalar = "u8" | "u16" | "u32" | "u64";
type Member =
  | { kind: "field"; name: string; type: Scalar | "char" | "u64[]" | "u32[]" | "bytes"; offset: number; count?: number }
  | { kind: "structs"; name: string; offset: number };

const run = (argv: string[], cwd: string): string => runOk(argv, { cwd });

const pascal = (cName: string) => cName.replace(/^cgw_/, "").replace(/(^|_)([a-z])/g, (_, __, c: string) => c.toUpperCase());
/** cgw_gate_key: GateKey; cgw_rule: RuleValue. */
const valueType = (cName: string) => (cName.endsWith("_key") ? pascal(cName) : `${pascal(cName)}Value`);
const layoutName = (cName: string) => `${pascal(cName)}Layout`;
/** Padding the CLI never reads or writes. */
const isPadding = (name: string) => /^(pad|_)/.test(name);

/** The TypeScript module's text; `root` is the project root. */
export function generateHeaderModule(root: string, clang = process.env.CLANG ?? "clang-16"): string {
  const header = readFileSync(join(root, HEADER), "utf8");
  const structs = [...header.matchAll(/^struct (cgw_\w+) \{/gm)].map((m) => m[1]!);
  const enums = [...header.matchAll(/^enum (cgw_\w+) \{/gm)].map((m) => m[1]!);
  const dir = mkdtempSync(join(tmpdir(), "cgwarden-header-"));
  try {
    // BTF keeps the types of what is defined: one variable of each.
    writeFileSync(
      join(dir, "types.c"),
      [`#include "cgwarden.h"`, ...structs.map((s) => `struct ${s} v_${s};`), ...enums.map((e) => `enum ${e} e_${e};`)].join("\n"),
    );
    run([clang, "-target", "bpf", "-g", "-I/usr/include/x86_64-linux-gnu", "-I", join(root, "bpf"), "-c", "types.c", "-o", "types.o"], dir);
    const btf = JSON.parse(run(["bpftool", "-j", "btf", "dump", "file", "types.o"], dir)) as { types: BtfType[] };
    const byId = new Map(btf.types.map((t) => [t.id, t]));

    // Integer macros, evaluated by the compiler (some are expressions); string macros, as written.
    const all = run(["cc", "-dM", "-E", "-I", join(root, "bpf"), "-include", "cgwarden.h", "-x", "c", "/dev/null"], dir)
      .split("\n")
      .map((l) => /^#define (CGW_\w+) (.*)$/.exec(l))
      .filter((m): m is RegExpExecArray => !!m);
    const strings = all.filter((m) => /^"[^"\\]*"$/.test(m[2]!.trim())).map((m) => [m[1]!, m[2]!.trim()] as const);
    const macros = all.map((m) => m[1]!).filter((n) => !strings.some(([s]) => s === n)).sort();
    writeFileSync(
      join(dir, "defines.c"),
      ["#include <stdio.h>", `#include "cgwarden.h"`, "int main(void) {", ...macros.map((m) => `printf("${m} %llu\\n", (unsigned long long)(${m}));`), "return 0; }"].join("\n"),
    );
    run(["cc", "-I", join(root, "bpf"), "-o", "defines", "defines.c"], dir);
    const defines = run([join(dir, "defines")], dir).trim().split("\n").map((l) => l.split(" ") as [string, string]);

    const out: string[] = [
      `// Generated from ${HEADER} by scripts/build.ts (scripts/header-abi.ts): do not edit.`,
      "// Struct layouts come from the compiler's BTF; cli/object/abi.ts gives them names.",
      `import { defineStruct } from "./struct.ts";`,
      "",
      ...defines.map(([name, value]) => `export const ${name} = ${BigInt(value) > BigInt(Number.MAX_SAFE_INTEGER) ? `${value}n` : value};`),
      ...strings.map(([name, value]) => `export const ${name} = ${value};`),
      "",
    ];
    for (const e of enums) {
      const t = btf.types.find((x) => x.kind === "ENUM" && x.name === e);
      if (!t) throw new Error(`enum ${e} is not in the BTF of ${HEADER}`);
      out.push(`// enum ${e}`, ...t.values!.map((v) => `export const ${v.name} = ${v.val};`), "");
    }
    for (const s of structs) out.push(...structModule(s, btf.types, byId), "");
    out.push("/** Every struct of the header, for the layout test. */", `export const ALL_LAYOUTS = [${structs.map(layoutName).join(", ")}];`);
    return `${out.join("\n").trimEnd()}\n`;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function resolve(id: number, byId: Map<number, BtfType>): BtfType {
  let t = byId.get(id);
  while (t && (t.kind === "TYPEDEF" || t.kind === "CONST" || t.kind === "VOLATILE")) t = byId.get(t.type_id!);
  if (!t) throw new Error(`BTF type ${id} not found`);
  return t;
}

function scalar(t: BtfType): Scalar | "char" {
  if (t.kind !== "INT") throw new Error(`unsupported BTF kind ${t.kind}`);
  if (t.name === "char") return "char";
  const bySize: Record<number, Scalar> = { 1: "u8", 2: "u16", 4: "u32", 8: "u64" };
  const s = bySize[t.size!];
  if (!s) throw new Error(`unsupported integer size ${t.size}`);
  return s;
}

function members(cName: string, types: BtfType[], byId: Map<number, BtfType>): { size: number; members: Member[] } {
  const t = types.find((x) => x.kind === "STRUCT" && x.name === cName);
  if (!t) throw new Error(`struct ${cName} is not in the BTF of ${HEADER}`);
  const out: Member[] = [];
  for (const m of t.members!) {
    if (isPadding(m.name)) continue;
    if (m.bits_offset % 8) throw new Error(`${cName}.${m.name}: bit fields are not supported`);
    const offset = m.bits_offset / 8;
    const mt = resolve(m.type_id, byId);
    if (mt.kind === "ARRAY") {
      const elem = resolve(mt.type_id!, byId);
      if (elem.kind === "STRUCT") {
        out.push({ kind: "structs", name: m.name, offset });
        continue;
      }
      const e = scalar(elem);
      if (e === "char") out.push({ kind: "field", name: m.name, type: "char", offset, count: mt.nr_elems });
      else if (e === "u64" || e === "u32") out.push({ kind: "field", name: m.name, type: `${e}[]`, offset, count: mt.nr_elems });
      else if (e === "u8") out.push({ kind: "field", name: m.name, type: "bytes", offset, count: mt.nr_elems });
      else throw new Error(`${cName}.${m.name}: arrays of ${e} are not supported by cli/object/struct.ts`);
    } else {
      const s = scalar(mt);
      if (s === "char") throw new Error(`${cName}.${m.name}: a lone char is not supported`);
      out.push({ kind: "field", name: m.name, type: s, offset });
    }
  }
  return { size: t.size!, members: out };
}

const tsType = { u8: "number", u16: "number", u32: "number", u64: "bigint", char: "string", "u64[]": "bigint[]", "u32[]": "number[]", bytes: "Buffer" } as const;

function structModule(cName: string, types: BtfType[], byId: Map<number, BtfType>): string[] {
  const { size, members: ms } = members(cName, types, byId);
  const fields = ms.filter((m) => m.kind === "field");
  const union = [...new Set(fields.map((f) => tsType[f.type]))].join(" | ") || "never";
  const lines = [
    `/** struct ${cName}${ms.some((m) => m.kind === "structs") ? " (arrays of structs: see the _OFFSET constants)" : ""} */`,
    `export interface ${valueType(cName)} extends Record<string, ${union}> {`,
    ...fields.map((f) => `  ${f.name}: ${tsType[f.type]};`),
    "}",
    `export const ${layoutName(cName)} = defineStruct<${valueType(cName)}>("${cName}", ${size}, [`,
    ...fields.map((f) => `  { name: "${f.name}", type: "${f.type}", offset: ${f.offset}${f.count !== undefined ? `, count: ${f.count}` : ""} },`),
    "]);",
  ];
  for (const m of ms.filter((m) => m.kind === "structs"))
    lines.push(`export const ${cName.replace(/^cgw_/, "").toUpperCase()}_${m.name.toUpperCase()}_OFFSET = ${m.offset};`);
  return lines;
}

if (import.meta.main) {
  const root = join(import.meta.dir, "..");
  writeFileSync(join(root, GENERATED), generateHeaderModule(root));
  console.log(`wrote ${GENERATED}`);
}
