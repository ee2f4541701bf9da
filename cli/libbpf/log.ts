// libbpf reports through a printf-style callback. bun:ffi has no varargs, but on
// x86-64 the va_list pointer can go straight to libc's vsnprintf.
import { JSCallback, FFIType, ptr, type Pointer } from "bun:ffi";
import { libbpf, libc } from "./ffi.ts";

const LEVEL_NAMES = ["warn", "info", "debug"] as const;
const KEEP = 200;

let verbose = false;
let installed: JSCallback | undefined;
const recent: string[] = [];
let total = 0; // lines ever seen; marks count these, since `recent` drops old lines
// One message can be a whole verifier log; allocated when libbpf first speaks, not at start-up.
let formatBuf: Buffer | undefined;

/** Send libbpf's own log, verifier output included, to stderr (`--verbose`). */
export function setLibbpfVerbose(on: boolean): void {
  verbose = on;
}

export function installLibbpfLog(): void {
  if (installed) return;
  installed = new JSCallback(
    (level: number, fmt: Pointer, args: Pointer) => {
      const buf = (formatBuf ??= Buffer.alloc(4 << 20));
      const n = libc().vsnprintf(ptr(buf), buf.length, fmt, args);
      const text = buf.toString("utf8", 0, Math.max(0, Math.min(n, buf.length - 1)));
      for (const line of text.split("\n")) {
        if (!line.trim()) continue;
        recent.push(line);
        total++;
        if (recent.length > KEEP) recent.shift();
        if (verbose) process.stderr.write(`libbpf ${LEVEL_NAMES[level] ?? level}: ${line}\n`);
      }
      return 0;
    },
    { args: [FFIType.i32, FFIType.ptr, FFIType.ptr], returns: FFIType.i32 },
  );
  libbpf().libbpf_set_print(installed.ptr);
}

/** Marks where an operation starts, so its error can quote only its own log lines. */
export function logMark(): number {
  return total;
}

/** The lines libbpf printed since `mark` (at most the last KEEP of them). */
export function logSince(mark: number): string[] {
  const n = Math.min(total - mark, recent.length);
  return n > 0 ? recent.slice(recent.length - n) : [];
}
