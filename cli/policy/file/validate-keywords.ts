// The keywords validate.ts implements, and the check that a schema uses no
// other: run once, when a validator is compiled, so that a schema keyword
// nobody implemented fails every start-up instead of passing every file.

export type Schema = { readonly [keyword: string]: unknown };

/** A check for a named `format`, for what patterns cannot say (such as byte lengths). */
export type FormatCheck = (value: string) => { message: string; fix: string } | undefined;

export const ANNOTATIONS = new Set(["$schema", "$id", "$defs", "title", "description", "default"]);
const ASSERTIONS = new Set([
  "$ref", "type", "enum", "const", "minLength", "maxLength", "pattern", "format", "minimum", "maximum",
  "minItems", "maxItems", "uniqueItems", "items", "properties", "required", "additionalProperties",
  "allOf", "anyOf", "oneOf", "not",
]);
const COUNTS = new Set(["minLength", "maxLength", "minimum", "maximum", "minItems", "maxItems"]);
const TYPES = new Set(["string", "integer", "number", "boolean", "array", "object", "null"]);

export function checkSchema(s: unknown, at: string, root: Schema, formats: Readonly<Record<string, FormatCheck>>, patterns: Map<string, RegExp>): void {
  const fail = (why: string): never => {
    throw new Error(`schema ${at}: ${why}; validate.ts implements only ${[...ASSERTIONS].join(", ")}`);
  };
  if (!isObject(s)) return fail("a schema must be an object");
  const sub = (v: unknown, where: string) => checkSchema(v, `${at}/${where}`, root, formats, patterns);
  const list = (v: unknown, k: string) => (Array.isArray(v) ? v : fail(`'${k}' must be an array`));
  for (const [k, v] of Object.entries(s)) {
    if (ANNOTATIONS.has(k)) continue;
    if (!ASSERTIONS.has(k)) fail(`keyword '${k}' is not implemented`);
    if (k === "type" && !(typeof v === "string" && TYPES.has(v))) fail("'type' must be one type name");
    if (k === "$ref") resolveRef(root, v) ?? fail(`'$ref' ${String(v)} must name an entry of #/$defs`);
    if (k === "pattern") patterns.set(String(v), new RegExp(String(v), "u"));
    if (k === "format" && !(typeof v === "string" && formats[v])) fail(`no check for format '${String(v)}'`);
    if ((k === "additionalProperties" || k === "uniqueItems") && typeof v !== "boolean") fail(`'${k}' must be true or false`);
    if (COUNTS.has(k) && typeof v !== "number") fail(`'${k}' must be a number`);
    if (k === "properties") for (const [name, p] of Object.entries(isObject(v) ? v : fail("'properties' must be an object"))) sub(p, `properties/${name}`);
    if (k === "items" || k === "not") sub(v, k);
    if (k === "allOf" || k === "anyOf" || k === "oneOf") list(v, k).forEach((b, i) => sub(b, `${k}/${i}`));
    if (k === "enum" || k === "required") list(v, k);
  }
  if (isObject(s.$defs)) for (const [name, d] of Object.entries(s.$defs)) sub(d, `$defs/${name}`);
}

export function resolveRef(root: Schema, ref: unknown): Schema | undefined {
  const m = typeof ref === "string" ? /^#\/\$defs\/([^/]+)$/.exec(ref) : null;
  const defs = root.$defs;
  const target = m && isObject(defs) ? defs[m[1]!] : undefined;
  return isObject(target) ? target : undefined;
}

export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}
