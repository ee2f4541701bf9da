import type { Pointer } from "bun:ffi";
import { cstr, libbpf } from "./ffi.ts";
import { check } from "./errors.ts";

/** An attachment of a program to its hook. Detaches when destroyed unless pinned. */
export class Link {
  private destroyed = false;
  constructor(private readonly handle: Pointer) {}

  get fd(): number {
    return libbpf().bpf_link__fd(this.handle);
  }

  pin(path: string): void {
    check(`pinning link at ${path}`, () => libbpf().bpf_link__pin(this.handle, cstr(path)));
  }

  /** Releases our reference; the attachment lives on only if pinned. */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    libbpf().bpf_link__destroy(this.handle);
  }
}
