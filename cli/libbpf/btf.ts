import { toArrayBuffer, type Pointer } from "bun:ffi";
import { cstr, lastErrno, libbpf } from "./ffi.ts";
import { BpfError } from "./errors.ts";
import { installLibbpfLog } from "./log.ts";
import { BTF_KIND_FUNC } from "./uapi.ts";


/** The running kernel's BTF (/sys/kernel/btf/vmlinux), read through libbpf. */
export class KernelBtf {
  private constructor(private readonly handle: Pointer) {}

  static load(): KernelBtf {
    installLibbpfLog();
    const h = libbpf().btf__load_vmlinux_btf();
    if (!h) throw new BpfError("reading kernel BTF", lastErrno());
    return new KernelBtf(h as Pointer);
  }

  hasFunction(name: string): boolean {
    return libbpf().btf__find_by_name_kind(this.handle, cstr(name), BTF_KIND_FUNC) > 0;
  }

  /** Name of a BTF type by id, e.g. the function a link is attached to. */
  nameOf(typeId: number): string | null {
    const t = libbpf().btf__type_by_id(this.handle, typeId);
    if (!t) return null;
    // struct btf_type starts with name_off (u32).
    const nameOff = new Uint32Array(toArrayBuffer(t, 0, 4))[0] ?? 0;
    const name = libbpf().btf__name_by_offset(this.handle, nameOff);
    return name ? String(name) : null;
  }

  free(): void {
    libbpf().btf__free(this.handle);
  }
}
