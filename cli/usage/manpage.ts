// cgwarden(8), generated from the command specs and the README's semantics,
// so the manual says what the parser takes and what the README promises.
import { EXIT_CODES } from "../errors.ts";
import type { CommandSpec } from "./spec.ts";

/** roff-safe text: backslashes doubled, a leading . or ' defused. */
function text(s: string): string {
  return s
    .replace(/\\/g, "\\e")
    .replace(/^([.'])/gm, "\\&$1")
    .replace(/-/g, "\\-")
    .replace(/[^\x00-\x7f]/g, (ch) => GLYPHS[ch] ?? `\\[u${ch.codePointAt(0)!.toString(16).toUpperCase().padStart(4, "0")}]`);
}

/** groff names for the few non-ASCII characters the README uses. */
const GLYPHS: Record<string, string> = { "→": "\\(->", "≠": "\\(!=", "≤": "\\(<=", "≥": "\\(>=", "×": "\\(mu", "—": "\\(em", "…": "...", "’": "'" };

/** The little Markdown the README uses inline: `code`, **bold**, *emphasis*. */
function inline(s: string): string {
  return text(s)
    .replace(/`([^`]+)`/g, "\\fB$1\\fR")
    .replace(/\*\*([^*]+)\*\*/g, "\\fB$1\\fR")
    .replace(/\*([^*]+)\*/g, "\\fI$1\\fR");
}

/** Paragraphs and (nested) bullet lists of Markdown, as roff. */
export function markdownToRoff(md: string): string {
  const out: string[] = [];
  let para: string[] = [];
  const flush = () => {
    if (para.length) out.push(".PP", inline(para.join(" ")));
    para = [];
  };
  let item: { indent: number; words: string[] } | null = null;
  const flushItem = () => {
    if (!item) return;
    out.push(item.indent ? ".RS 4" : "", `.IP \\(bu 2`, inline(item.words.join(" ")), item.indent ? ".RE" : "");
    item = null;
  };
  for (const raw of md.split("\n")) {
    const bullet = /^(\s*)- (.*)$/.exec(raw);
    if (bullet) {
      flush();
      flushItem();
      item = { indent: bullet[1]!.length, words: [bullet[2]!] };
    } else if (!raw.trim()) {
      flushItem();
      flush();
    } else if (item) item.words.push(raw.trim());
    else para.push(raw.trim());
  }
  flushItem();
  flush();
  return out.filter((l) => l !== "").join("\n");
}

export function manPage(specs: CommandSpec[], semantics: string, version: string, date: string): string {
  const lines = [
    `.TH CGWARDEN 8 "${date}" "cgwarden ${version}" "System Administration"`,
    ".SH NAME",
    "cgwarden \\- decide who may move processes between cgroup v2 cgroups",
    ".SH SYNOPSIS",
    ".B cgwarden",
    ".I command",
    "[\\fIoptions\\fR]",
    ".SH DESCRIPTION",
    text(
      "cgwarden locks cgroup v2 subtrees against migrations in, out of or within them, lets chosen actors pass, delegates subtrees, and records every refusal. It enforces through BPF LSM programs and keeps its policy in pinned BPF maps, so the policy stays in force after the command exits. There is no daemon.",
    ),
    ".SH COMMANDS",
  ];
  for (const c of specs) {
    const pos = c.positionals.map((p) => (p.required ? ` \\fI${text(p.name)}\\fR` : ` [\\fI${text(p.name)}\\fR]`)).join("");
    lines.push(`.SS "${c.name}${pos.replace(/\\f[BIR]/g, "")}"`, inline(c.description));
    for (const o of c.options) {
      const names = [`\\fB\\-\\-${o.name}\\fR`, ...o.alias.map((a) => `\\fB\\-${a.length === 1 ? "" : "\\-"}${a}\\fR`)].join(", ");
      lines.push(".TP", `${names}${o.takesValue ? ` \\fI${text(o.valueHint ?? "VALUE")}\\fR` : ""}`, inline(o.description));
    }
    if (c.examples.length) lines.push(".PP", "Examples:", ".RS 4", ".nf", ...c.examples.map(text), ".fi", ".RE");
  }
  lines.push(
    ".SH SEMANTICS",
    markdownToRoff(semantics),
    ".SH EXIT STATUS",
    ...EXIT_CODES.flatMap((e) => [".TP", String(e.code), text(e.meaning)]),
    ".SH ENVIRONMENT",
    ".TP", "CGWARDEN_PIN_DIR", "The bpffs directory of the pins (default /sys/fs/bpf/cgwarden).",
    ".TP", "NO_COLOR", "Any non-empty value turns colour off; it is off whenever stdout is not a terminal.",
    ".SH FILES",
    ".TP", "/sys/fs/bpf/cgwarden", "Pinned maps (the policy) and links (the attached programs).",
    ".SH SEE ALSO",
    "\\fBbpftool\\fR(8), \\fBsystemd.resource-control\\fR(5), \\fBcgroups\\fR(7)",
  );
  return `${lines.join("\n")}\n`;
}

/** A README section's body, by its "## Title" heading. */
export function readmeSection(readme: string, title: string): string {
  const start = readme.indexOf(`\n## ${title}\n`);
  if (start < 0) throw new Error(`README has no '## ${title}' section`);
  const body = readme.slice(start + title.length + 5);
  const end = body.indexOf("\n## ");
  return (end < 0 ? body : body.slice(0, end)).trim();
}
