// A JSON Schema interpreter for the keywords schema.ts uses, and no others.
// compileSchema() refuses a schema with any keyword (or keyword form) it does
// not implement, so the schema cannot grow a rule this code would silently
// skip. Errors are meant for admins: one message per broken rule, naming the
// fix, instead of the branch-by-branch dump a general validator gives.
import { shown } from "../../errors.ts";
import { childPointer } from "./source.ts";
import { ANNOTATIONS, checkSchema, isObject, resolveRef, type FormatCheck, type Schema } from "./validate-keywords.ts";
import { count, lowerFirst, rangeFix, scalarShown, showValue, typeFix, typeName } from "./validate-wording.ts";

export interface SchemaProblem {
  /** JSON pointer (RFC 6901) of the offending value or key. */
  pointer: string;
  message: string;
  fix: string;
}

export type { FormatCheck };

export type Validator = (value: unknown) => SchemaProblem[];

export function compileSchema(root: object, formats: Readonly<Record<string, FormatCheck>> = {}): Validator {
  const rootSchema = root as Schema;
  const patterns = new Map<string, RegExp>();
  checkSchema(rootSchema, "#", rootSchema, formats, patterns);
  const ctx: Context = { root: rootSchema, formats, patterns };
  return (value) => {
    const out: SchemaProblem[] = [];
    check(ctx, rootSchema, value, "", undefined, out);
    return out;
  };
}

// ---- values -------------------------------------------------------------------

interface Context {
  root: Schema;
  formats: Readonly<Record<string, FormatCheck>>;
  patterns: Map<string, RegExp>;
}

/** `label` is the nearest `title` on the way down without crossing into a property or item: what the value is. */
function check(ctx: Context, s: Schema, v: unknown, ptr: string, label: string | undefined, out: SchemaProblem[]): void {
  const start = out.length;
  const here = typeof s.title === "string" ? s.title : label;
  const problem = (message: string, fix: string, at = ptr) => out.push({ pointer: at, message, fix });

  if (s.$ref !== undefined) check(ctx, resolveRef(ctx.root, s.$ref)!, v, ptr, here, out);
  if (typeof s.type === "string" && !hasType(v, s.type)) {
    problem(`expected ${typeName(s.type)}, got ${typeName(typeOf(v))}${scalarShown(v)}`, typeFix(s.type, v, ptr));
    return; // every other keyword is about the value's contents; the wrong type makes them noise
  }
  if (Array.isArray(s.enum) && !s.enum.some((e) => sameValue(e, v)))
    problem(`unknown value ${showValue(v)}`, `give one of ${s.enum.map(showValue).join(", ")}`);
  if ("const" in s && !sameValue(s.const, v)) problem(`${showValue(v)} is not allowed here`, `give ${showValue(s.const)}`);

  if (typeof v === "string") {
    const length = [...v].length; // JSON Schema counts code points
    if (typeof s.minLength === "number" && length < s.minLength)
      problem(length === 0 ? "is empty" : `is shorter than ${s.minLength} characters`, `give at least ${s.minLength} characters`);
    if (typeof s.maxLength === "number" && length > s.maxLength)
      problem(`is too long (${length} characters)`, `a ${here ?? "value"} has at most ${s.maxLength} characters`);
    if (typeof s.pattern === "string" && !ctx.patterns.get(s.pattern)!.test(v))
      problem(`${showValue(v)} is not a valid ${here ?? "value"}`, typeof s.description === "string" ? s.description : `match ${s.pattern}`);
  }
  if (typeof v === "number") {
    const min = typeof s.minimum === "number" ? s.minimum : undefined;
    const max = typeof s.maximum === "number" ? s.maximum : undefined;
    if ((min !== undefined && v < min) || (max !== undefined && v > max)) problem(`${v} is out of range`, rangeFix(s.type, min, max));
  }
  if (Array.isArray(v)) checkArray(ctx, s, v, ptr, out);
  if (isObject(v)) checkObject(ctx, s, v, ptr, out);

  if (Array.isArray(s.allOf)) {
    // Branches are ordered from the most basic rule; past the first broken one the rest only repeat it.
    for (const branch of s.allOf as Schema[]) {
      const before = out.length;
      check(ctx, branch, v, ptr, here, out);
      if (out.length > before) break;
    }
  }
  if (Array.isArray(s.anyOf)) checkAlternatives(ctx, s.anyOf as Schema[], v, ptr, here, "anyOf", out);
  if (Array.isArray(s.oneOf)) checkAlternatives(ctx, s.oneOf as Schema[], v, ptr, here, "oneOf", out);
  if (isObject(s.not) && passes(ctx, s.not, v, ptr, here)) {
    const keys = requiredOnly(s.not);
    if (keys) problem(`${keys.join(" and ")} are both given`, `give only one of ${keys.join(", ")}`);
    else problem(`${showValue(v)} is not allowed here`, typeof s.description === "string" ? s.description : "");
  }
  if (typeof s.format === "string" && typeof v === "string" && out.length === start) {
    const bad = ctx.formats[s.format]!(v);
    if (bad) problem(bad.message, bad.fix);
  }
}

function checkArray(ctx: Context, s: Schema, v: unknown[], ptr: string, out: SchemaProblem[]): void {
  const problem = (message: string, fix: string, at = ptr) => out.push({ pointer: at, message, fix });
  const items = isObject(s.items) ? s.items : undefined;
  const choices = items && Array.isArray(items.enum) ? ` of ${items.enum.map(showValue).join(", ")}` : "";
  if (typeof s.minItems === "number" && v.length < s.minItems)
    problem(v.length === 0 ? "is empty" : `has ${v.length} items, fewer than ${s.minItems}`, `give at least ${count(s.minItems)}${choices}`);
  if (typeof s.maxItems === "number" && v.length > s.maxItems)
    problem(`has ${v.length} items, more than ${s.maxItems}`, `give at most ${s.maxItems}`);
  if (s.uniqueItems === true)
    v.forEach((item, i) => {
      if (v.findIndex((other) => sameValue(other, item)) < i) problem(`${showValue(item)} is listed twice`, "list each once", `${ptr}/${i}`);
    });
  if (items) v.forEach((item, i) => check(ctx, items, item, `${ptr}/${i}`, undefined, out));
}

function checkObject(ctx: Context, s: Schema, v: Record<string, unknown>, ptr: string, out: SchemaProblem[]): void {
  const props = isObject(s.properties) ? s.properties : {};
  if (s.additionalProperties === false)
    for (const key of Object.keys(v))
      if (!Object.hasOwn(props, key))
        out.push({ pointer: childPointer(ptr, key), message: `unknown key '${shown(key)}'`, fix: `allowed keys: ${Object.keys(props).join(", ")}` });
  if (Array.isArray(s.required))
    for (const key of s.required as string[])
      if (!Object.hasOwn(v, key)) {
        const about = props[key];
        const what = isObject(about) && typeof about.description === "string" ? `: ${lowerFirst(about.description.replace(/\.$/, ""))}` : "";
        out.push({ pointer: ptr, message: `missing required key '${key}'`, fix: `add ${key}${what}` });
      }
  for (const [key, sub] of Object.entries(props))
    if (Object.hasOwn(v, key) && isObject(sub)) check(ctx, sub, v[key], childPointer(ptr, key), undefined, out);
}

/** anyOf / oneOf: one message for the whole choice, not one per branch. */
function checkAlternatives(ctx: Context, branches: Schema[], v: unknown, ptr: string, label: string | undefined, kind: "anyOf" | "oneOf", out: SchemaProblem[]): void {
  const results = branches.map((b) => {
    const errs: SchemaProblem[] = [];
    check(ctx, b, v, ptr, label, errs);
    return errs;
  });
  const passing = results.filter((r) => r.length === 0).length;
  if (passing === 1 || (kind === "anyOf" && passing > 1)) return;
  const keys = branches.map(requiredOnly);
  const names = keys.every((k) => k?.length === 1) ? keys.map((k) => k![0]!) : undefined;
  if (passing > 1) {
    const given = names?.filter((_, i) => results[i]!.length === 0);
    out.push(given
      ? { pointer: ptr, message: `${given.join(" and ")} are ${given.length === 2 ? "both" : "all"} given`, fix: `give only one of ${names!.join(", ")}` }
      : { pointer: ptr, message: `matches ${passing} alternatives where one is expected`, fix: "make it match exactly one" });
    return;
  }
  if (names) {
    out.push({ pointer: ptr, message: `no ${names.slice(0, -1).join(", ")} or ${names.at(-1)}`, fix: `give at least one of ${names.join(", ")}` });
    return;
  }
  // The branch that came closest says best what is wrong.
  const closest = results.reduce((a, b) => (b.length < a.length ? b : a));
  out.push(...closest);
}

/** The keys a schema that holds nothing but `required` (and annotations) demands, else undefined. */
function requiredOnly(s: unknown): string[] | undefined {
  if (!isObject(s) || !Array.isArray(s.required)) return undefined;
  return Object.keys(s).every((k) => k === "required" || ANNOTATIONS.has(k)) ? (s.required as string[]) : undefined;
}

function passes(ctx: Context, s: Schema, v: unknown, ptr: string, label: string | undefined): boolean {
  const errs: SchemaProblem[] = [];
  check(ctx, s, v, ptr, label, errs);
  return errs.length === 0;
}

// ---- helpers --------------------------------------------------------------------

function typeOf(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "array";
  if (typeof v === "number") return Number.isInteger(v) ? "integer" : "number";
  return typeof v;
}

function hasType(v: unknown, type: string): boolean {
  const actual = typeOf(v);
  return actual === type || (type === "number" && actual === "integer");
}

function sameValue(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => sameValue(x, b[i]));
  if (isObject(a) && isObject(b)) {
    const ka = Object.keys(a);
    return ka.length === Object.keys(b).length && ka.every((k) => Object.hasOwn(b, k) && sameValue(a[k], b[k]));
  }
  return false;
}
