// cli/object/header.ts is generated from bpf/cgwarden.h (scripts/header-abi.ts,
// from the compiler's BTF); it must be current, and agree with the C
// compiler's offsetof() on every offset and size, or the kernel and the CLI
// read different things.
import { describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { GENERATED, generateHeaderModule } from "../../scripts/header-abi.ts";
import { BPF_ANY, BPF_COMMANDS, BPF_LINK_TYPE_RAW_TRACEPOINT, BTF_KIND_FUNC, BtfKind, BpfAttachType, BpfMapType, Errno, Keyctl, Libc } from "../../cli/libbpf/uapi.ts";
import { DIR_TEMPLATES, NODE_EPOCH, TEMPLATE_PART, TEMPLATE_SET_SIZE } from "../../cli/object/abi.ts";
import { ALL_LAYOUTS, ABI_VERSION, Knob, MANAGERS, Refusal, ManagerLayout, ProtectedKind, SEAL_MANAGERS_OFFSET, SealLayout, Tamper, GATE_SLOTS, MAX_LEVEL, Direction, Via, Verdict, Selector, RuleKind, Stat, STAT_COUNT } from "../../cli/object/abi.ts";
import { ROOT } from "../../scripts/project.ts";


test("cli/object/header.ts is what bpf/cgwarden.h generates", () => {
  expect(readFileSync(join(ROOT, GENERATED), "utf8")).toBe(generateHeaderModule(ROOT));
});

function compileAndRun(source: string): string {
  const dir = mkdtempSync(join(tmpdir(), "cgw-layout-"));
  try {
    writeFileSync(join(dir, "t.c"), source);
    const cc = Bun.spawnSync(["cc", "-I", join(ROOT, "bpf"), "-o", join(dir, "t"), join(dir, "t.c")], { stderr: "pipe" });
    if (cc.exitCode !== 0) throw new Error(cc.stderr.toString());
    return Bun.spawnSync([join(dir, "t")]).stdout.toString();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const lines = [
  "#include <stdio.h>",
  "#include <stddef.h>",
  '#include "cgwarden.h"',
  "int main(void) {",
  ...ALL_LAYOUTS.flatMap((l) => [
    `printf("${l.cName} size %zu\\n", sizeof(struct ${l.cName}));`,
    ...l.fields.map((f) => `printf("${l.cName}.${f.name} %zu %zu\\n", offsetof(struct ${l.cName}, ${f.name}), sizeof(((struct ${l.cName} *)0)->${f.name}));`),
  ]),
  'printf("const ABI %d MAX_LEVEL %d SLOTS %d STATS %d\\n", CGW_ABI_VERSION, CGW_MAX_LEVEL, CGW_GATE_SLOTS, CGW_STAT_COUNT);',
  'printf("binding %zu %d %d %llu\\n", sizeof(struct cgw_template_set), CGW_DIR_TEMPLATES, CGW_TEMPLATE_PART, (unsigned long long)CGW_NODE_EPOCH);',
  'printf("enum %d %d %d %d %d %d %d %d %d %d %d %d %d %d\\n", CGW_DIR_IN, CGW_DIR_OUT, CGW_DIR_WITHIN, CGW_VIA_PROCS, CGW_VIA_THREADS, CGW_VIA_CLONE, CGW_VERDICT_DENY, CGW_VERDICT_AUDIT, CGW_SEL_PID, CGW_SEL_EXE, CGW_SEL_UID, CGW_SEL_CGROUP, CGW_RULE_ALLOW, CGW_RULE_DELEGATE);',
  'printf("seal %d %d %zu %d %d %d %d %d %d %d\\n", CGW_VIA_TAMPER, CGW_MANAGERS, sizeof(((struct cgw_seal *)0)->managers), CGW_PROT_MAP, CGW_PROT_MAP_READABLE, CGW_PROT_PROG, CGW_PROT_LINK, CGW_PROT_DIR, CGW_PROT_FS, CGW_PROT_MAP_PRESENTED);',
  'printf("tamper %d %d %d %d %d %d %d %d %d %d %d %d\\n", CGW_TAMPER_MAP_OPEN, CGW_TAMPER_MAP_WRITE, CGW_TAMPER_PROG_USES, CGW_TAMPER_LINK, CGW_TAMPER_BPF_LOCKED, CGW_TAMPER_UNLINK, CGW_TAMPER_RENAME, CGW_TAMPER_UMOUNT, CGW_TAMPER_PTRACE, CGW_TAMPER_BPF_COMMAND, CGW_TAMPER_KNOB, CGW_TAMPER_AUTHORIZATION);',
  'printf("knob %d\\n", CGW_KNOB_FTRACE_ENABLED);',
  'printf("refusal %d %d %d %d %d %d\\n", CGW_REFUSAL_NO_CHALLENGE, CGW_REFUSAL_EXPIRED, CGW_REFUSAL_TRACED, CGW_REFUSAL_KEY_GONE, CGW_REFUSAL_MALFORMED, CGW_REFUSAL_SIGNATURE);',
  'printf("stat %d %d %d %d %d %d\\n", CGW_STAT_DECISIONS, CGW_STAT_ALLOWED, CGW_STAT_DENIED, CGW_STAT_AUDITED, CGW_STAT_DROPPED, CGW_STAT_RECORDED);',
  "return 0; }",
];
const report = compileAndRun(lines.join("\n"));
const facts = new Map(report.trim().split("\n").map((l) => [l.split(" ")[0]!, l.split(" ").slice(1)]));

const widths = { u8: 1, u16: 2, u32: 4, u64: 8, char: 1, "u64[]": 8, "u32[]": 4, bytes: 1 } as const;

describe("struct layouts shared with bpf/cgwarden.h", () => {
  for (const layout of ALL_LAYOUTS) {
    test(`struct ${layout.cName}`, () => {
      expect(Number(facts.get(layout.cName)?.[1])).toBe(layout.size);
      for (const f of layout.fields) {
        const [offset, size] = facts.get(`${layout.cName}.${f.name}`) ?? [];
        expect({ field: f.name, offset: Number(offset), size: Number(size) }).toEqual({
          field: f.name,
          offset: f.offset,
          size: widths[f.type] * (f.count ?? 1),
        });
      }
    });

    test(`struct ${layout.cName} round-trips through encode/decode`, () => {
      const raw = Buffer.alloc(layout.size, 0x11);
      // C strings: keep room for the terminating NUL.
      for (const f of layout.fields) if (f.type === "char") raw[f.offset + (f.count ?? 1) - 1] = 0;
      const sample = layout.decode(raw);
      expect(layout.decode(layout.encode(sample as never))).toEqual(sample);
    });
  }

  test("template sets and node ids", () => {
    expect(facts.get("binding")).toEqual([String(TEMPLATE_SET_SIZE), String(DIR_TEMPLATES), String(TEMPLATE_PART), String(NODE_EPOCH)]);
  });

  test("constants and enums", () => {
    expect(facts.get("const")).toEqual(["ABI", String(ABI_VERSION), "MAX_LEVEL", String(MAX_LEVEL), "SLOTS", String(GATE_SLOTS), "STATS", String(STAT_COUNT)]);
    expect(facts.get("enum")?.map(Number)).toEqual([
      Direction.in, Direction.out, Direction.within, Via.procs, Via.threads, Via.clone, Verdict.deny, Verdict.audit,
      Selector.pid, Selector.exe, Selector.uid, Selector.cgroup, RuleKind.allow, RuleKind.delegate,
    ]);
    expect(facts.get("seal")?.map(Number)).toEqual([
      Via.tamper, MANAGERS, MANAGERS * ManagerLayout.size, ProtectedKind.map, ProtectedKind.mapReadable, ProtectedKind.prog,
      ProtectedKind.link, ProtectedKind.dir, ProtectedKind.fs, ProtectedKind.mapPresented,
    ]);
    expect(facts.get("tamper")?.map(Number)).toEqual(Object.values(Tamper));
    expect(facts.get("knob")?.map(Number)).toEqual(Object.values(Knob));
    expect(facts.get("refusal")?.map(Number)).toEqual(Object.values(Refusal));
    expect(SEAL_MANAGERS_OFFSET + MANAGERS * ManagerLayout.size).toBe(SealLayout.size);
    expect(facts.get("stat")?.map(Number)).toEqual([Stat.decisions, Stat.allowed, Stat.denied, Stat.audited, Stat.dropped, Stat.recorded]);
  });
});

test("cli/libbpf/uapi.ts agrees with the system's UAPI and libc headers", () => {
  const names: [string, number | bigint][] = [
    ...Object.entries(Errno), ...Object.entries(BpfMapType), ...Object.entries(BpfAttachType), ...Object.entries(BtfKind), ...Object.entries(Libc), ...Object.entries(Keyctl),
    ["BPF_LINK_TYPE_RAW_TRACEPOINT", BPF_LINK_TYPE_RAW_TRACEPOINT], ["BPF_ANY", BPF_ANY], ["BTF_KIND_FUNC", BTF_KIND_FUNC],
    // enum bpf_cmd in order; this system's headers (Linux 6.1) end before 6.9's BPF_TOKEN_CREATE
    ...BPF_COMMANDS.filter((c) => c !== "BPF_TOKEN_CREATE").map((c, i): [string, number] => [c, i]),
  ];
  const out = compileAndRun(
    [
      "#define _GNU_SOURCE",
      ...["stdio.h", "errno.h", "fcntl.h", "sys/file.h", "sys/syscall.h", "linux/bpf.h", "linux/btf.h", "linux/keyctl.h"].map((h) => `#include <${h}>`),
      "int main(void) {",
      ...names.map(([n]) => `printf("${n} %lld\\n", (long long)(${n}));`),
      "return 0; }",
    ].join("\n"),
  );
  expect(out.trim().split("\n")).toEqual(names.map(([n, v]) => `${n} ${v}`));
});
