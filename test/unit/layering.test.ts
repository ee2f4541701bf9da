// The README's architecture promises that under cli/ "imports only point down
// this list". This holds it to that: the order is read from the README's own
// list, every import (static, type-only, re-export and dynamic) of every
// module under cli/ is resolved, and none may point to a folder listed above
// its own. Inside a folder, imports may go either way but never round: no
// cycle, type-only edges included (a type cycle is a design cycle too).
import { expect, test } from "bun:test";
import { readFileSync, readdirSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { ROOT } from "../../scripts/project.ts";

const CLI = join(ROOT, "cli");

/** cli/'s entries in the README's architecture list, top first: "main.ts", "commands", ... */
function readmeOrder(): string[] {
  const readme = readFileSync(join(ROOT, "README.md"), "utf8");
  const block = readme.slice(readme.indexOf("## Architecture"));
  const lines = block.split("\n");
  const start = lines.findIndex((l) => l.startsWith("cli/"));
  const order: string[] = [];
  for (const line of lines.slice(start + 1)) {
    if (/^\S/.test(line)) break; // the next top-level entry
    const m = /^ {2}(\S+?)\/?\s{2,}/.exec(line) ?? /^ {2}(\S+?)\/?$/.exec(line);
    if (m) order.push(m[1]!);
  }
  return order;
}

function modules(dir: string): string[] {
  return readdirSync(dir).flatMap((e) => {
    const p = join(dir, e);
    return statSync(p).isDirectory() ? modules(p) : p.endsWith(".ts") ? [p] : [];
  });
}

interface Edge {
  from: string;
  to: string;
  dynamic: boolean;
}

function edges(files: string[]): Edge[] {
  const out: Edge[] = [];
  for (const from of files) {
    const src = readFileSync(from, "utf8");
    for (const m of src.matchAll(/^\s*(?:import|export)\s[^;]*?\sfrom\s+"(\.{1,2}\/[^"]+)"/gm)) out.push({ from, to: resolve(dirname(from), m[1]!), dynamic: false });
    for (const m of src.matchAll(/\bimport\(\s*"(\.{1,2}\/[^"]+)"\s*\)/g)) out.push({ from, to: resolve(dirname(from), m[1]!), dynamic: true });
  }
  return out;
}

const order = readmeOrder();
const files = modules(CLI);
const all = edges(files);
/** A module's place in the list; files at cli/'s root other than main.ts (errors, output, version) are the floor everyone shares. */
const layer = (file: string) => {
  const top = relative(CLI, file).split("/")[0]!;
  const i = order.indexOf(top);
  return i >= 0 ? i : order.length;
};
const name = (f: string) => relative(ROOT, f);

test("the README lists cli/'s modules in order, and every folder under cli/ is on the list", () => {
  expect(order.slice(0, 2)).toEqual(["main.ts", "commands"]);
  const folders = readdirSync(CLI).filter((e) => statSync(join(CLI, e)).isDirectory());
  expect(folders.filter((f) => !order.includes(f))).toEqual([]);
  expect(all.length).toBeGreaterThan(200); // the parser finds the imports at all
});

test("no import under cli/ points up the README's list", () => {
  const up = all.filter((e) => e.to.startsWith(CLI) && layer(e.to) < layer(e.from)).map((e) => `${name(e.from)} -> ${name(e.to)}${e.dynamic ? " (dynamic)" : ""}`);
  expect(up).toEqual([]);
});

test("the shared floor (errors, output, version) imports nothing from the folders", () => {
  const floor = all.filter((e) => layer(e.from) === order.length && e.to.startsWith(CLI) && layer(e.to) < order.length).map((e) => `${name(e.from)} -> ${name(e.to)}`);
  expect(floor).toEqual([]);
});

test("no import cycle under cli/, type-only imports included", () => {
  const next = new Map<string, string[]>();
  for (const e of all) if (!e.dynamic) next.set(e.from, [...(next.get(e.from) ?? []), e.to]);
  const cycles: string[] = [];
  const state = new Map<string, "open" | "done">();
  const path: string[] = [];
  const visit = (n: string) => {
    state.set(n, "open");
    path.push(n);
    for (const m of next.get(n) ?? []) {
      if (state.get(m) === "open") cycles.push([...path.slice(path.indexOf(m)), m].map(name).join(" -> "));
      else if (!state.has(m)) visit(m);
    }
    path.pop();
    state.set(n, "done");
  };
  for (const f of files) if (!state.has(f)) visit(f);
  expect(cycles).toEqual([]);
});
