// Strict parsing of a subcommand's raw arguments against its citty argument
// table. citty's own parser (node:util underneath) reads "-exe" as the short
// flags -e -x -e and "--out=yes" as --out, accepts unknown flags and keeps
// the last of repeated ones: each would turn an admin's typo into a different
// policy than asked. So every token must be exactly one declared thing, or
// the command is refused; and since this walk already knows every value,
// it hands the command its arguments itself, and citty's parser is not
// loaded at all (see test/bench: start-up).
import type { ArgsDef } from "citty";
import { UsageError, shown } from "../errors.ts";
import { extrasOf } from "./_define.ts";
import { GIVEN_NAMES } from "../policy/selectors.ts";

const SELECTORS = new Set<string>(GIVEN_NAMES);

interface Option {
  canonical: string;
  type: "boolean" | "string";
  /** Declared repeatable: citty keeps only the last, so commands read them with allValues(). */
  repeatable: boolean;
}

/** "a, b or c" */
const oneOf = (options: readonly string[]) => (options.length > 1 ? `${options.slice(0, -1).join(", ")} or ${options.at(-1)}` : (options[0] ?? ""));

/** The one message for a value outside an argument's fixed choices: `label` is the option, or the command for a positional. */
function choiceProblem(label: string, options: readonly string[], value: string): string {
  return `${label} takes ${oneOf(options)}, not '${shown(value)}'`;
}

/** Option names and aliases of a command, each mapped to its declared name and type. */
function optionTable(def: ArgsDef): Map<string, Option> {
  const known = new Map<string, Option>();
  for (const [name, d] of Object.entries(def)) {
    if (d.type === "positional") continue;
    const type = d.type === "boolean" ? "boolean" : "string";
    const opt = { canonical: name, type, repeatable: !!extrasOf(d).repeatable } as const;
    known.set(name, opt);
    for (const a of ["alias" in d ? (d.alias ?? []) : []].flat()) known.set(a, opt);
    if (type === "boolean") known.set(`no-${name}`, opt);
  }
  return known;
}

/** A token the user meant as an option rather than a value: "-x", "--x", "-1"; a lone "-" is a value. */
export function looksLikeOption(tok: string): boolean {
  return tok.length > 1 && tok.startsWith("-");
}

/** What a command's run() receives: each declared name, its aliases too, and the positionals in `_`. */
export type ParsedArgv = Record<string, string | boolean | string[] | undefined> & { _: string[] };

/**
 * The arguments of `raw` by declared name, as citty would give them. Throws a
 * UsageError for the first token that is not exactly a declared option (with
 * its value), a declared alias, or an expected positional, and for a
 * missing required one. `command` names the subcommand in messages.
 */
export function parseArgv(command: string, def: ArgsDef, raw: readonly string[]): ParsedArgv {
  const known = optionTable(def);
  const positionals = Object.entries(def).filter(([, d]) => d.type === "positional");
  const seen = new Map<string, number>();
  const given: string[] = [];
  const values = new Map<string, string | boolean>();

  const count = (opt: Option) => {
    const canonical = opt.canonical;
    const times = (seen.get(canonical) ?? 0) + 1;
    seen.set(canonical, times);
    if (times === 1 || opt.repeatable) return;
    if (SELECTORS.has(canonical))
      throw new UsageError({ problem: `--${canonical} given ${times} times`, fix: `selectors in one rule must all match, so give separate rules for alternatives` });
    throw new UsageError({ problem: `--${canonical} given ${times} times`, fix: `give it once` });
  };

  for (let i = 0; i < raw.length; i++) {
    const tok = raw[i]!;
    if (tok === "--") {
      given.push(...raw.slice(i + 1));
      break;
    }
    if (!looksLikeOption(tok)) {
      given.push(tok);
      continue;
    }
    if (tok.startsWith("--")) {
      const eq = tok.indexOf("=");
      const name = eq < 0 ? tok.slice(2) : tok.slice(2, eq);
      if (!name) throw new UsageError({ problem: `'${shown(tok)}' has no option name`, fix: `options are written --name or --name=VALUE` });
      const opt = known.get(name);
      if (!opt) throw new UsageError({ problem: `unknown option --${shown(name)}`, fix: `see 'cgwarden ${command} --help'` });
      count(opt);
      if (opt.type === "boolean") {
        if (eq >= 0) throw new UsageError({ problem: `--${name} takes no value, not '${shown(tok.slice(eq + 1))}'`, fix: `write --${name} alone` });
        values.set(opt.canonical, name !== `no-${opt.canonical}`);
        continue;
      }
      if (eq >= 0) {
        if (eq === tok.length - 1) throw new UsageError({ problem: `option --${name} needs a value`, fix: `write --${name} VALUE` });
        values.set(opt.canonical, tok.slice(eq + 1));
        continue;
      }
      const value = raw[i + 1];
      if (value === undefined || value === "--") throw new UsageError(`option --${name} needs a value`);
      if (looksLikeOption(value))
        throw new UsageError({ problem: `option --${name} needs a value, and '${shown(value)}' looks like an option`, fix: `if it is the value, write --${name}=${shown(value)}` });
      if (value === "") throw new UsageError({ problem: `option --${name} has an empty value`, fix: `give a value` });
      values.set(opt.canonical, value);
      i++;
      continue;
    }
    const opt = singleDash(command, tok, known, count);
    if (opt.type === "boolean") {
      values.set(opt.canonical, true);
      continue;
    }
    // A declared one-letter alias of a string option takes the next token as its value.
    const v = raw[i + 1];
    if (v === undefined || looksLikeOption(v) || v === "") throw new UsageError(`option ${tok} needs a value`);
    values.set(opt.canonical, v);
    i++;
  }

  const variadic = positionals.some(([, d]) => (d as { variadic?: boolean }).variadic);
  if (!variadic && given.length > positionals.length)
    throw new UsageError({ problem: `unexpected argument '${shown(given[positionals.length]!)}'`, fix: `see 'cgwarden ${command} --help'` });
  for (let k = given.length; k < positionals.length; k++) {
    const [name, d] = positionals[k]!;
    if (d.required === false || d.default !== undefined) continue;
    const hint = (d as { valueHint?: string }).valueHint ?? name.toUpperCase();
    throw new UsageError({ problem: `missing ${hint}: usage is 'cgwarden ${command} ${hint}'`, fix: `see 'cgwarden ${command} --help'` });
  }

  const args: ParsedArgv = { _: given };
  positionals.forEach(([name, d], k) => {
    args[name] = given[k] ?? (d.default as string | undefined);
    const options = extrasOf(d).options;
    if (options && given[k] !== undefined && !options.includes(given[k]!)) throw new UsageError(choiceProblem(command, options, given[k]!));
  });
  for (const [name, d] of Object.entries(def)) {
    if (d.type === "positional") continue;
    const value = values.get(name) ?? (d.default as string | boolean | undefined);
    if (value === undefined && d.required) {
      const hint = (d as { valueHint?: string }).valueHint ?? "VALUE";
      throw new UsageError({ problem: `missing --${name} ${hint}`, fix: `see 'cgwarden ${command} --help'` });
    }
    const options = extrasOf(d).options;
    if (options && typeof value === "string" && !options.includes(value)) throw new UsageError(choiceProblem(`--${name}`, options, value));
    args[name] = value;
    for (const a of ["alias" in d ? (d.alias ?? []) : []].flat()) args[a] = value;
  }
  return args;
}

/** Every value of a repeatable string option, in order (after parseArgv accepted the arguments). */
export function allValues(raw: readonly string[], name: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < raw.length; i++) {
    const tok = raw[i]!;
    if (tok === "--") break;
    if (tok === `--${name}`) out.push(raw[++i]!);
    else if (tok.startsWith(`--${name}=`)) out.push(tok.slice(name.length + 3));
  }
  return out;
}

/** "-v" is fine when v is a declared alias; anything else with one dash is refused, with the likely meaning. */
function singleDash(command: string, tok: string, known: Map<string, Option>, count: (o: Option) => void): Option {
  const body = tok.slice(1);
  const opt = body.length === 1 ? known.get(body) : undefined;
  if (opt && body !== opt.canonical) {
    count(opt);
    return opt;
  }
  const name = body.split("=")[0]!;
  if (/^\d/.test(body)) throw new UsageError({ problem: `unknown option ${shown(tok)}`, fix: `negative numbers are not valid here` });
  if (known.has(name) && name.length > 1) throw new UsageError({ problem: `unknown option ${shown(tok)}`, fix: `long options take two dashes: --${body}` });
  const letters = [...body];
  if (letters.length > 1 && letters.every((c) => known.has(c) && c !== known.get(c)!.canonical))
    throw new UsageError({ problem: `unknown option ${shown(tok)}`, fix: `give short options one at a time (${letters.map((c) => `-${c}`).join(" ")})` });
  throw new UsageError({ problem: `unknown option ${shown(tok)}`, fix: `see 'cgwarden ${command} --help'` });
}
