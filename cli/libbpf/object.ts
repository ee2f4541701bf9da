// Typed wrappers over libbpf's object, program and map handles.
import { ptr, type Pointer } from "bun:ffi";
import { cstr, lastErrno, libbpf } from "./ffi.ts";
import { BpfError, check } from "./errors.ts";
import { installLibbpfLog, logMark, logSince } from "./log.ts";
import { Link } from "./link.ts";

// struct bpf_object_open_opts as of libbpf 1.1 (field offsets checked with offsetof).
const OPEN_OPTS_SIZE = 80;
const OPEN_OPTS_OBJECT_NAME = 8;

export class BpfObject {
  private closed = false;
  // libbpf keeps pointers into these until load returns.
  private constructor(
    private readonly handle: Pointer,
    private readonly keepAlive: unknown[],
  ) {}

  static openMem(bytes: Uint8Array, name: string): BpfObject {
    installLibbpfLog();
    const opts = Buffer.alloc(OPEN_OPTS_SIZE);
    const nameBuf = cstr(name);
    opts.writeBigUInt64LE(BigInt(OPEN_OPTS_SIZE), 0);
    opts.writeBigUInt64LE(BigInt(ptr(nameBuf)), OPEN_OPTS_OBJECT_NAME);
    const mark = logMark();
    const handle = libbpf().bpf_object__open_mem(bytes, bytes.byteLength, opts);
    if (!handle) throw new BpfError(`opening BPF object ${name}`, lastErrno(), logSince(mark));
    return new BpfObject(handle as Pointer, [bytes, opts, nameBuf]);
  }

  programs(): BpfProgram[] {
    return walk((prev) => libbpf().bpf_object__next_program(this.handle, prev)).map((p) => new BpfProgram(p));
  }

  program(name: string): BpfProgram {
    const found = this.programs().find((p) => p.name === name);
    if (!found) throw new Error(`BPF object has no program ${name}`);
    return found;
  }

  maps(): BpfMapDef[] {
    return walk((prev) => libbpf().bpf_object__next_map(this.handle, prev)).map((m) => new BpfMapDef(m));
  }

  map(name: string): BpfMapDef {
    const found = this.maps().find((m) => m.name === name);
    if (!found) throw new Error(`BPF object has no map ${name}`);
    return found;
  }

  /** Runs the verifier on every program left to autoload. A failed object can only be closed. */
  load(): void {
    check("loading BPF programs", () => libbpf().bpf_object__load(this.handle));
    this.keepAlive.length = 0;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    libbpf().bpf_object__close(this.handle);
  }
}

/** libbpf's bpf_object__next_* iteration: start from NULL, stop at NULL. */
function walk(next: (prev: Pointer | null) => Pointer | bigint | null): Pointer[] {
  const out: Pointer[] = [];
  for (let p = next(null); p; p = next(p as Pointer)) out.push(p as Pointer);
  return out;
}

export class BpfProgram {
  constructor(private readonly handle: Pointer) {}

  get name(): string {
    return String(libbpf().bpf_program__name(this.handle));
  }

  /** e.g. "lsm/inode_permission" */
  get section(): string {
    return String(libbpf().bpf_program__section_name(this.handle));
  }

  /** The kernel function or hook named by the section. */
  get target(): string {
    return this.section.split("/").slice(1).join("/");
  }

  setAutoload(on: boolean): void {
    check(`setting autoload of ${this.name}`, () => libbpf().bpf_program__set_autoload(this.handle, on));
  }

  get fd(): number {
    return libbpf().bpf_program__fd(this.handle);
  }

  attach(): Link {
    const mark = logMark();
    const link = libbpf().bpf_program__attach(this.handle);
    if (!link) throw new BpfError(`attaching ${this.name} to ${this.section}`, lastErrno(), logSince(mark));
    return new Link(link as Pointer);
  }
}

export class BpfMapDef {
  constructor(private readonly handle: Pointer) {}

  get name(): string {
    return String(libbpf().bpf_map__name(this.handle));
  }

  get fd(): number {
    return libbpf().bpf_map__fd(this.handle);
  }

  /** Only before load. */
  setMaxEntries(n: number): void {
    check(`sizing map ${this.name}`, () => libbpf().bpf_map__set_max_entries(this.handle, n));
  }
}
