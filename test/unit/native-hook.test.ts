// Which native hook a kernel has, decided from its BTF alone (cli/object/mechanism.ts
// findNativeHook): synthetic kernels, each a BTF blob parsed by libbpf as a
// kernel's would be.
import { describe, expect, test } from "bun:test";
import { KernelBtf } from "../../cli/libbpf/index.ts";
import { findNativeHook } from "../../cli/object/mechanism.ts";

/** A tiny BTF writer: structs, pointers, ints, typedefs, const, and one function per signature. */
class BtfBuilder {
  private types: number[][] = [];
  private strings = "\0";

  private str(s: string): number {
    const at = this.strings.length;
    this.strings += `${s}\0`;
    return at;
  }

  private add(words: number[]): number {
    this.types.push(words);
    return this.types.length;
  }

  struct(name: string): number {
    return this.add([this.str(name), (4 << 24) | 0, 8]);
  }
  ptr(to: number): number {
    return this.add([0, 2 << 24, to]);
  }
  constOf(t: number): number {
    return this.add([0, 10 << 24, t]);
  }
  int(name: string, bytes: number, signed = false): number {
    return this.add([this.str(name), 1 << 24, bytes, ((signed ? 1 : 0) << 24) | (bytes * 8)]);
  }
  bool(): number {
    return this.add([this.str("bool"), 8 << 24, this.add([this.str("_Bool"), 1 << 24, 1, (4 << 24) | 8])]);
  }
  /** A global function `name(params...)` returning int. */
  func(name: string, params: [string, number][]): void {
    const ret = this.int("int", 4, true);
    const proto = this.add([0, (13 << 24) | params.length, ret, ...params.flatMap(([n, t]) => [this.str(n), t])]);
    this.add([this.str(name), (12 << 24) | 1, proto]);
  }

  bytes(): Uint8Array {
    const typeWords = this.types.flat();
    const typeLen = typeWords.length * 4;
    const strBytes = new TextEncoder().encode(this.strings);
    const buf = new ArrayBuffer(24 + typeLen + strBytes.length);
    const v = new DataView(buf);
    v.setUint16(0, 0xeb9f, true);
    v.setUint8(2, 1);
    v.setUint8(3, 0);
    v.setUint32(4, 24, true);
    v.setUint32(8, 0, true);
    v.setUint32(12, typeLen, true);
    v.setUint32(16, typeLen, true);
    v.setUint32(20, strBytes.length, true);
    typeWords.forEach((w, i) => v.setUint32(24 + i * 4, w >>> 0, true));
    new Uint8Array(buf, 24 + typeLen).set(strBytes);
    return new Uint8Array(buf);
  }
}

function kernel(build: (b: BtfBuilder, t: Record<string, number>) => void): ReturnType<typeof findNativeHook> {
  const b = new BtfBuilder();
  const t = {
    task: b.ptr(b.struct("task_struct")),
    cgroup: b.ptr(b.struct("cgroup")),
    sb: b.ptr(b.struct("super_block")),
    ns: b.ptr(b.struct("cgroup_namespace")),
    bool: b.bool(),
  };
  build(b, t);
  const btf = KernelBtf.fromBytes(b.bytes());
  try {
    return findNativeHook(btf);
  } finally {
    btf.free();
  }
}

describe("native hook detection from BTF", () => {
  test("the seed's bpf_lsm_cgroup_attach(task, src, dst, sb, threadgroup, ns) is the native hook", () => {
    const found = kernel((b, t) =>
      b.func("bpf_lsm_cgroup_attach", [["task", t.task!], ["src_cgrp", t.cgroup!], ["dst_cgrp", t.cgroup!], ["sb", t.sb!], ["threadgroup", t.bool!], ["ns", t.ns!]]),
    );
    expect(found).toEqual({ state: "present" });
  });

  test("qualifiers do not matter: const pointers are the same signature", () => {
    const found = kernel((b, t) => {
      const constCgroup = b.ptr(b.constOf(b.struct("cgroup")));
      b.func("bpf_lsm_cgroup_attach", [["task", t.task!], ["src", constCgroup], ["dst", constCgroup], ["sb", t.sb!], ["threadgroup", t.bool!], ["ns", t.ns!]]);
    });
    expect(found).toEqual({ state: "present" });
  });

  test("a merged LSM hook under the same name with other arguments is reported, not used", () => {
    const found = kernel((b, t) => b.func("bpf_lsm_cgroup_attach", [["task", t.task!], ["dst", t.cgroup!], ["threadgroup", t.bool!]]));
    expect(found).toEqual({ state: "other-signature", params: ["struct task_struct *", "struct cgroup *", "bool"] });
  });

  test("same arity, another order: not the native hook", () => {
    const found = kernel((b, t) =>
      b.func("bpf_lsm_cgroup_attach", [["src", t.cgroup!], ["dst", t.cgroup!], ["task", t.task!], ["sb", t.sb!], ["threadgroup", t.bool!], ["ns", t.ns!]]),
    );
    expect(found.state).toBe("other-signature");
  });

  test("a kernel without the hook (every released kernel) falls back", () => {
    const found = kernel((b, t) => b.func("bpf_lsm_inode_permission", [["inode", t.task!]]));
    expect(found).toEqual({ state: "absent" });
  });
});
