// A TOML reader (1.0, and 1.1's multi-line inline tables) for what policy files use, recording the line of every
// value. Bun.TOML.parse reads the same text but keeps no positions (and its
// errors none we can rely on), and a policy error without a line number is a
// hunt; this reader is small enough to own. Left out on purpose: multi-line
// strings, floats, dates, hex/octal/binary integers; each is refused by name.
import { shown } from "../../errors.ts";
import { SourceSyntaxError, childPointer, lineCounter, type ParsedSource } from "./source.ts";
import { readTomlScalar, readTomlString } from "./toml-scalars.ts";

type Table = Record<string, unknown>;
/** How a table came to be, which decides what may still add to it (TOML 1.0 "Table" rules). */
type Origin = "implicit" | "header" | "dotted" | "inline";

const SPACE = /[ \t]*/y;
const BLANK_LINES = /([ \t]|\r?\n|#[^\r\n]*)*/y;
const LINE_REST = /[ \t]*(#[^\r\n]*)?/y;
const BARE_KEY = /[A-Za-z0-9_-]+/y;

export function parseToml(text: string): ParsedSource {
  return new TomlReader(text).read();
}

class TomlReader {
  private i = 0;
  private readonly lineAt: (offset: number) => number;
  private readonly lines = new Map<string, number>();
  private readonly origins = new WeakMap<Table, Origin>();
  private readonly tableArrays = new WeakSet<unknown[]>();
  private readonly root = this.table("header");

  constructor(private readonly text: string) {
    this.lineAt = lineCounter(text);
    if (text.startsWith("\uFEFF")) this.i = 1;
  }

  read(): ParsedSource {
    this.lines.set("", 1);
    let current = this.root;
    let ptr = "";
    for (;;) {
      this.skipBlank(true);
      if (this.i >= this.text.length) return { data: this.root, lines: this.lines };
      if (this.text[this.i] === "[") [current, ptr] = this.header();
      else this.keyValue(current, ptr);
      this.endOfLine();
    }
  }

  private fail(message: string, fix = "", at = this.i): never {
    throw new SourceSyntaxError(this.lineAt(at), message, fix);
  }

  private table(origin: Origin): Table {
    const t: Table = Object.create(null);
    this.origins.set(t, origin);
    return t;
  }

  private isTable(v: unknown): v is Table {
    return typeof v === "object" && v !== null && this.origins.has(v as Table);
  }

  /** Spaces and tabs; with `newlines`, also line breaks and comments. */
  private skipBlank(newlines: boolean): void {
    const re = newlines ? BLANK_LINES : SPACE;
    re.lastIndex = this.i;
    this.i += re.exec(this.text)![0].length;
  }

  private endOfLine(): void {
    LINE_REST.lastIndex = this.i;
    this.i += LINE_REST.exec(this.text)![0].length;
    const c = this.text[this.i];
    if (c === undefined || c === "\n" || this.text.startsWith("\r\n", this.i)) return;
    this.fail(`unexpected '${shown(c)}' where the line should end`, "put each key = value, and each [table], on a line of its own");
  }

  private header(): [Table, string] {
    const start = this.i;
    const line = this.lineAt(start);
    const isArray = this.text.startsWith("[[", start);
    this.i += isArray ? 2 : 1;
    this.skipBlank(false);
    const keys = this.key();
    this.skipBlank(false);
    const close = isArray ? "]]" : "]";
    if (!this.text.startsWith(close, this.i)) this.fail(`expected '${close}' to close the table header`);
    this.i += close.length;

    let t = this.root;
    let ptr = "";
    for (const [n, k] of keys.entries()) {
      ptr = childPointer(ptr, k);
      const last = n === keys.length - 1;
      let v = t[k];
      if (v === undefined) {
        v = last && isArray ? [] : this.table(last ? "header" : "implicit");
        if (Array.isArray(v)) this.tableArrays.add(v);
        t[k] = v;
        this.lines.set(ptr, line);
      } else if (last && !isArray) {
        if (!this.isTable(v) || this.origins.get(v) !== "implicit")
          this.redefined(ptr, start, `[${shown(keys.join("."))}] is already defined`);
        this.origins.set(v, "header");
        this.lines.set(ptr, line);
      } else if (last && !(Array.isArray(v) && this.tableArrays.has(v))) {
        this.redefined(ptr, start, `'${shown(k)}' is already defined, and not as [[${shown(keys.join("."))}]]`);
      }
      if (Array.isArray(v) && this.tableArrays.has(v)) {
        if (last) v.push(this.table("header"));
        ptr = childPointer(ptr, v.length - 1);
        if (last) this.lines.set(ptr, line);
        v = v.at(-1);
      }
      if (!this.isTable(v) || this.origins.get(v) === "inline") this.redefined(ptr, start, `'${shown(k)}' is already a value, not a table`);
      t = v;
    }
    return [t, ptr];
  }

  private redefined(ptr: string, at: number, message: string): never {
    const first = this.lines.get(ptr);
    throw new SourceSyntaxError(this.lineAt(at), `${message}${first ? ` (line ${first})` : ""}`, "give each table once; repeat [[name]] for a list of tables", ptr);
  }

  /** A key, dotted or not: its parts. */
  private key(): string[] {
    const parts: string[] = [];
    for (;;) {
      const c = this.text[this.i];
      if (c === '"' || c === "'") parts.push(this.string());
      else {
        BARE_KEY.lastIndex = this.i;
        const m = BARE_KEY.exec(this.text);
        if (!m) this.fail(c === undefined || c === "\n" ? "expected a key" : `unexpected '${shown(c)}' where a key belongs`, "keys are letters, digits, '_' and '-', or quoted");
        parts.push(m[0]);
        this.i += m[0].length;
      }
      this.skipBlank(false);
      if (this.text[this.i] !== ".") return parts;
      this.i++;
      this.skipBlank(false);
    }
  }

  private keyValue(into: Table, intoPtr: string): void {
    const start = this.i;
    const keys = this.key();
    if (this.text[this.i] !== "=") this.fail(`expected '=' after the key '${shown(keys.join("."))}'`, "write key = value");
    this.i++;
    this.skipBlank(false);
    let t = into;
    let ptr = intoPtr;
    for (const k of keys.slice(0, -1)) {
      ptr = childPointer(ptr, k);
      if (t[k] === undefined) {
        t[k] = this.table("dotted");
        this.lines.set(ptr, this.lineAt(start));
      }
      const next = t[k];
      if (!this.isTable(next) || this.origins.get(next) !== "dotted") this.redefined(ptr, start, `'${shown(k)}' is already defined`);
      t = next;
    }
    const last = keys.at(-1)!;
    ptr = childPointer(ptr, last);
    if (Object.hasOwn(t, last))
      throw new SourceSyntaxError(this.lineAt(start), `'${shown(last)}' is given twice (first at line ${this.lines.get(ptr)})`, "give each key once", ptr);
    this.lines.set(ptr, this.lineAt(start));
    t[last] = this.value(ptr);
  }

  private value(ptr: string): unknown {
    const t = this.text;
    const c = t[this.i];
    if (c === '"' || c === "'") return this.string();
    if (c === "[") return this.array(ptr);
    if (c === "{") return this.inlineTable(ptr);
    const { value, end } = readTomlScalar(t, this.i, (message, fix, at) => this.fail(message, fix, at));
    this.i = end;
    return value;
  }

  private string(): string {
    const { value, end } = readTomlString(this.text, this.i, (message, fix, at) => this.fail(message, fix, at));
    this.i = end;
    return value;
  }

  private array(ptr: string): unknown[] {
    this.i++;
    const items: unknown[] = [];
    for (;;) {
      this.skipBlank(true);
      if (this.i >= this.text.length) this.fail("the list is not closed", "end the list with ']'");
      if (this.text[this.i] === "]") break;
      const itemPtr = childPointer(ptr, items.length);
      this.lines.set(itemPtr, this.lineAt(this.i));
      items.push(this.value(itemPtr));
      this.skipBlank(true);
      if (this.i >= this.text.length) this.fail("the list is not closed", "end the list with ']'");
      if (this.text[this.i] === ",") this.i++;
      else if (this.text[this.i] !== "]") this.fail("expected ',' or ']' in the list", "separate items with ',' and end the list with ']'");
    }
    this.i++;
    return items;
  }

  /** TOML 1.1's form, as Bun reads it too: newlines, comments and a trailing ',' allowed inside. */
  private inlineTable(ptr: string): Table {
    this.i++;
    const t = this.table("inline");
    for (;;) {
      this.skipBlank(true);
      if (this.text[this.i] === "}") break;
      if (this.i < this.text.length) this.keyValue(t, ptr);
      this.skipBlank(true);
      if (this.i >= this.text.length) this.fail("the inline table is not closed", "end it with '}'");
      if (this.text[this.i] === ",") this.i++;
      else if (this.text[this.i] !== "}") this.fail("expected ',' or '}' in the inline table", "separate key = value pairs with ','");
    }
    this.i++;
    return t;
  }
}
