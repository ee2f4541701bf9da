// How the validator's problems read: type names, values and fixes in the
// words of someone editing a policy file (TOML's tables and lists first).
import { shown } from "../../errors.ts";

export function typeName(type: string): string {
  const names: Record<string, string> = {
    string: "a string", integer: "an integer", number: "a number", boolean: "true or false",
    array: "a list", object: "a table", null: "null",
  };
  return names[type] ?? type;
}

export function typeFix(type: string, v: unknown, ptr: string): string {
  if (type === "integer" && typeof v === "string" && /^-?[0-9]+$/.test(v.trim())) return `write the number without quotes: ${v.trim()}`;
  const name = ptr.slice(ptr.lastIndexOf("/") + 1);
  if (type === "array" && typeof v === "object" && v !== null && !Array.isArray(v)) return `write one [[${name}]] per entry (in JSON, a list of objects)`;
  if (type === "array") return `write a list: [${showValue(v)}]`;
  if (type === "object" && Array.isArray(v) && name !== "") return `write one [${name}] table, not a list`;
  return `give ${typeName(type)}`;
}

export function rangeFix(type: unknown, min: number | undefined, max: number | undefined): string {
  const what = type === "integer" ? "an integer" : "a number";
  if (min !== undefined && max !== undefined) return `give ${what} from ${min} to ${max}`;
  return min !== undefined ? `give ${what} of at least ${min}` : `give ${what} of at most ${max}`;
}

/** "at least 1" reads as "at least one" in a fix. */
export function count(n: number): string {
  return n === 1 ? "one" : String(n);
}

export function scalarShown(v: unknown): string {
  return typeof v === "string" || typeof v === "number" || typeof v === "boolean" ? ` (${showValue(v)})` : "";
}

export function showValue(v: unknown): string {
  if (typeof v === "string") return `"${shown(v, 60)}"`;
  if (typeof v === "number" || typeof v === "boolean" || v === null) return String(v);
  return Array.isArray(v) ? "a list" : "a table";
}

export function lowerFirst(text: string): string {
  return text.charAt(0).toLowerCase() + text.slice(1);
}
