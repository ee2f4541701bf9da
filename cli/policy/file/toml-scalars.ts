// TOML's scalars as policy files use them: single-line strings ("basic" with
// escapes, 'literal' without), decimal integers, booleans. Multi-line
// strings, floats, dates and hex/octal/binary are refused by name rather than
// misread (a """ as "" + text, a 1.5 as 1 + junk).
import { shown } from "../../errors.ts";

export type Fail = (message: string, fix: string, at: number) => never;

const INTEGER = /[+-]?(0|[1-9](_?[0-9])*)/y;
const WORD = /[^\s,\]}#]*/y;
const ESCAPES: Record<string, string> = { b: "\b", t: "\t", n: "\n", f: "\f", r: "\r", '"': '"', "\\": "\\" };

/** The string starting at `start` (on its quote) and the offset just past it. */
export function readTomlString(text: string, start: number, fail: Fail): { value: string; end: number } {
  const quote = text[start]!;
  if (text.startsWith(quote.repeat(3), start)) fail("multi-line strings are not used in policy files", "write the string on one line", start);
  let value = "";
  for (let i = start + 1; ; ) {
    const c = text[i];
    if (c === undefined || c === "\n" || c === "\r") fail("the string is not closed on its line", `end it with ${quote}`, i);
    if (c === quote) return { value, end: i + 1 };
    const code = c.charCodeAt(0);
    if ((code < 0x20 && c !== "\t") || code === 0x7f) fail("a control character inside a string", "write it as an escape, like \\u0001", i);
    if (c !== "\\" || quote === "'") {
      value += c;
      i++;
      continue;
    }
    const { char, length } = escape(text, i, fail);
    value += char;
    i += length;
  }
}

function escape(text: string, at: number, fail: Fail): { char: string; length: number } {
  const c = text[at + 1] ?? "";
  if (ESCAPES[c] !== undefined) return { char: ESCAPES[c], length: 2 };
  const digits = c === "u" ? 4 : c === "U" ? 8 : 0;
  const hex = text.slice(at + 2, at + 2 + digits);
  const code = parseInt(hex, 16);
  const scalar = code <= 0x10ffff && (code < 0xd800 || code > 0xdfff);
  if (digits === 0 || hex.length !== digits || !/^[0-9A-Fa-f]+$/.test(hex) || !scalar)
    fail(`invalid escape '\\${shown(c + hex)}'`, "escapes are \\\\ \\\" \\b \\t \\n \\f \\r \\uXXXX \\UXXXXXXXX; or use a 'literal string'", at);
  return { char: String.fromCodePoint(code), length: 2 + digits };
}

/** true, false or an integer at `start`; anything else is reported as what it looks like. */
export function readTomlScalar(text: string, start: number, fail: Fail): { value: boolean | number; end: number } {
  WORD.lastIndex = start;
  const word = WORD.exec(text)![0];
  if (word === "true" || word === "false") return { value: word === "true", end: start + word.length };
  INTEGER.lastIndex = start;
  const digits = INTEGER.exec(text)?.[0];
  if (digits !== undefined && digits === word) {
    const n = Number(digits.replaceAll("_", ""));
    if (!Number.isSafeInteger(n)) fail(`${digits} is too large an integer`, `give at most ${Number.MAX_SAFE_INTEGER}`, start);
    return { value: n === 0 ? 0 : n, end: start + digits.length }; // no -0
  }
  const c = text[start];
  if (word === "") fail(c === undefined || c === "\n" || c === "\r" ? "expected a value" : `unexpected '${shown(c)}' where a value belongs`, "", start);
  if (/^[+-]?[0-9]/.test(word)) fail(`${shown(word)} is not a decimal integer`, "policy files use only whole numbers in decimal, like 1000 (no floats, dates, 0x...)", start);
  return fail(`unquoted text '${shown(word)}'`, `put text in quotes: "${shown(word)}"`, start);
}
