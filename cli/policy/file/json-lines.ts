// JSON policy files: JSON.parse builds the values, and a scan of the same
// grammar records the line of every value. The scan runs first because Bun's
// JSON.parse errors carry no position ("Unexpected token '}'"), and because a
// key given twice, which JSON.parse silently resolves to the last, must be an
// error in a security policy.
import { shown } from "../../errors.ts";
import { SourceSyntaxError, childPointer, lineCounter, type ParsedSource } from "./source.ts";

const NUMBER = /-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?/y;
const LITERAL = /true|false|null/y;

export function parseJson(text: string): ParsedSource {
  const body = text.startsWith("\uFEFF") ? text.slice(1) : text;
  const lines = new JsonLineScanner(body).scan();
  try {
    return { data: JSON.parse(body), lines };
  } catch (e) {
    // The scan accepts only JSON, so this is not expected; keep JSON.parse's word for it.
    throw new SourceSyntaxError(1, e instanceof Error ? e.message : String(e));
  }
}

class JsonLineScanner {
  private i = 0;
  /** Where the last ',' was, to point a trailing comma out on its own line. */
  private comma = 0;
  private readonly lineAt: (offset: number) => number;
  private readonly lines = new Map<string, number>();

  constructor(private readonly text: string) {
    this.lineAt = lineCounter(text);
  }

  scan(): Map<string, number> {
    this.value("");
    this.blank();
    if (this.i < this.text.length) this.fail("unexpected text after the end of the policy", "a policy file is one JSON object");
    return this.lines;
  }

  private fail(message: string, fix = "", at = this.i): never {
    throw new SourceSyntaxError(this.lineAt(at), message, fix);
  }

  private blank(): void {
    while (/[ \t\n\r]/.test(this.text[this.i] ?? "")) this.i++;
    const c = this.text[this.i];
    if (c === "/" || c === "#") this.fail("JSON has no comments", "remove the comment, or write the policy in TOML, which has them");
  }

  private value(ptr: string): void {
    this.blank();
    this.lines.set(ptr, this.lineAt(this.i));
    const c = this.text[this.i];
    if (c === "{") return this.object(ptr);
    if (c === "[") return this.array(ptr);
    if (c === '"') return void this.string();
    for (const re of [NUMBER, LITERAL]) {
      re.lastIndex = this.i;
      const m = re.exec(this.text);
      if (m && !/[A-Za-z0-9_.]/.test(this.text[this.i + m[0].length] ?? "")) {
        this.i += m[0].length;
        return;
      }
    }
    if (c === undefined) this.fail("unexpected end of file", "complete the policy, or close the brackets left open");
    if (c === "'") this.fail("JSON strings use double quotes", 'write "text"');
    this.fail(`unexpected '${shown(c)}' where a value belongs`, 'values are "strings", numbers, true, false, [lists] or {objects}');
  }

  /** Skips one string and returns its end; bad strings fail at the offending character. */
  private string(): number {
    const t = this.text;
    this.i++;
    for (;;) {
      const c = t[this.i];
      if (c === undefined || c === "\n" || c === "\r") this.fail("the string is not closed on its line", 'end it with "');
      if (c === '"') return ++this.i;
      if (c < " ") this.fail("a control character inside a string", "write it as an escape, like \\n or \\u0001");
      if (c === "\\") {
        const esc = t[this.i + 1] ?? "";
        const ok = '"\\/bfnrt'.includes(esc) ? 2 : esc === "u" && /^[0-9a-fA-F]{4}$/.test(t.slice(this.i + 2, this.i + 6)) ? 6 : 0;
        if (!ok) this.fail(`invalid escape '\\${shown(esc)}'`, 'escapes are \\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX');
        this.i += ok;
      } else this.i++;
    }
  }

  private object(ptr: string): void {
    this.i++;
    const seen = new Set<string>();
    this.blank();
    if (this.text[this.i] === "}") return void this.i++;
    for (;;) {
      this.blank();
      const keyStart = this.i;
      if (this.text[keyStart] === "}" && seen.size > 0) this.fail("a trailing ',' before '}'", "JSON allows no ',' before '}'; remove it", this.comma);
      if (this.text[keyStart] !== '"') this.fail("expected a quoted key", 'write keys in double quotes: "path"');
      const key = JSON.parse(this.text.slice(keyStart, this.string())) as string;
      const keyPtr = childPointer(ptr, key);
      if (seen.has(key))
        throw new SourceSyntaxError(this.lineAt(keyStart), `'${shown(key)}' is given twice (first at line ${this.lines.get(keyPtr)})`, "give each key once", keyPtr);
      seen.add(key);
      this.blank();
      if (this.text[this.i] !== ":") this.fail(`expected ':' after the key '${shown(key)}'`, 'write "key": value');
      this.i++;
      this.value(keyPtr);
      this.lines.set(keyPtr, this.lineAt(keyStart)); // the key's line, as in TOML
      if (this.next("}", `the value of '${shown(key)}'`)) return;
    }
  }

  private array(ptr: string): void {
    this.i++;
    this.blank();
    if (this.text[this.i] === "]") return void this.i++;
    for (let n = 0; ; n++) {
      this.blank();
      if (this.text[this.i] === "]") this.fail("a trailing ',' before ']'", "JSON allows no ',' before ']'; remove it", this.comma);
      this.value(childPointer(ptr, n));
      if (this.next("]", "the list item")) return;
    }
  }

  /** After a member or item: ',' continues, `close` ends; anything else is reported where the value ended. */
  private next(close: string, what: string): boolean {
    const end = this.i;
    this.blank();
    const c = this.text[this.i];
    this.i++;
    if (c === close) return true;
    if (c === ",") {
      this.comma = this.i - 1;
      return false;
    }
    if (c === undefined) this.fail("unexpected end of file", `close the brackets left open`, end);
    this.fail(`expected ',' or '${close}' after ${what}`, "separate entries with ','", end);
  }
}
