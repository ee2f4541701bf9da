import { toArrayBuffer, type Pointer } from "bun:ffi";
import { cstr, lastErrno, libbpf } from "./ffi.ts";
import { BpfError } from "./errors.ts";
import { installLibbpfLog } from "./log.ts";
import { BTF_KIND_FUNC, BtfKind } from "./uapi.ts";

/** struct btf_type: name_off, info (kind in bits 24-28, vlen in 0-15), size or type. */
const BTF_TYPE_SIZE = 12;
/** struct btf_param, which follows a FUNC_PROTO: name_off, type. */
const BTF_PARAM_SIZE = 8;

/** Kernel BTF, read through libbpf: the running kernel's (/sys/kernel/btf/vmlinux), or any blob. */
export class KernelBtf {
  private constructor(private readonly handle: Pointer) {}

  static load(): KernelBtf {
    installLibbpfLog();
    const h = libbpf().btf__load_vmlinux_btf();
    if (!h) throw new BpfError("reading kernel BTF", lastErrno());
    return new KernelBtf(h as Pointer);
  }

  /** Raw BTF (header, types, strings), e.g. a synthetic kernel's in a unit test; libbpf copies it. */
  static fromBytes(bytes: Uint8Array): KernelBtf {
    installLibbpfLog();
    const h = libbpf().btf__new(bytes, bytes.byteLength);
    if (!h) throw new BpfError("parsing BTF", lastErrno());
    return new KernelBtf(h as Pointer);
  }

  hasFunction(name: string): boolean {
    return this.findFunction(name) > 0;
  }

  /**
   * A kernel function's parameters as C would spell their types
   * ("struct task_struct *", "bool"), or null when the function is not in BTF.
   */
  functionParams(name: string): string[] | null {
    const id = this.findFunction(name);
    if (id <= 0) return null;
    const proto = this.raw(this.raw(id).typeRef);
    if (proto.kind !== BtfKind.BTF_KIND_FUNC_PROTO) return null;
    const t = libbpf().btf__type_by_id(this.handle, proto.id);
    const params = new Uint32Array(toArrayBuffer(t as Pointer, BTF_TYPE_SIZE, proto.vlen * BTF_PARAM_SIZE));
    return Array.from({ length: proto.vlen }, (_, i) => this.spell(params[2 * i + 1] ?? 0));
  }

  /** Name of a BTF type by id, e.g. the function a link is attached to. */
  nameOf(typeId: number): string | null {
    const t = libbpf().btf__type_by_id(this.handle, typeId);
    if (!t) return null;
    return this.name(new Uint32Array(toArrayBuffer(t, 0, 4))[0] ?? 0);
  }

  free(): void {
    libbpf().btf__free(this.handle);
  }

  private findFunction(name: string): number {
    return libbpf().btf__find_by_name_kind(this.handle, cstr(name), BTF_KIND_FUNC);
  }

  private name(offset: number): string | null {
    const name = libbpf().btf__name_by_offset(this.handle, offset);
    return name ? String(name) : null;
  }

  private raw(id: number): { id: number; kind: number; vlen: number; name: string; typeRef: number } {
    const t = id ? libbpf().btf__type_by_id(this.handle, id) : null;
    if (!t) return { id, kind: 0, vlen: 0, name: "void", typeRef: 0 };
    const [nameOff = 0, info = 0, typeRef = 0] = new Uint32Array(toArrayBuffer(t as Pointer, 0, BTF_TYPE_SIZE));
    return { id, kind: (info >>> 24) & 0x1f, vlen: info & 0xffff, name: this.name(nameOff) ?? "", typeRef };
  }

  /** A type as C spells it, qualifiers dropped: what a signature check compares. */
  private spell(id: number, depth = 0): string {
    const t = this.raw(id);
    if (depth > 16) return "?";
    switch (t.kind) {
      case 0:
        return "void";
      case BtfKind.BTF_KIND_PTR:
        return `${this.spell(t.typeRef, depth + 1)} *`;
      case BtfKind.BTF_KIND_STRUCT:
      case BtfKind.BTF_KIND_FWD:
        return `struct ${t.name}`;
      case BtfKind.BTF_KIND_UNION:
        return `union ${t.name}`;
      case BtfKind.BTF_KIND_ENUM:
      case BtfKind.BTF_KIND_ENUM64:
        return `enum ${t.name}`;
      case BtfKind.BTF_KIND_CONST:
      case BtfKind.BTF_KIND_VOLATILE:
      case BtfKind.BTF_KIND_RESTRICT:
      case BtfKind.BTF_KIND_TYPE_TAG:
        return this.spell(t.typeRef, depth + 1);
      case BtfKind.BTF_KIND_FUNC_PROTO:
        return "function";
      default:
        return t.name || `kind ${t.kind}`;
    }
  }
}
