// Writers of the pinned state take an exclusive flock, so concurrent
// invocations apply one after the other and never interleave half-changes.
import { dirname } from "node:path";
import { existsSync } from "node:fs";
import { cstr, lastErrno, libc } from "../libbpf/ffi.ts";
import { describeErrno } from "../libbpf/errors.ts";
import { Errno, Libc } from "../libbpf/uapi.ts";
import { CliError } from "../errors.ts";


/** Runs `fn` holding an exclusive lock on the pin directory's parent (the bpffs mount). */
export async function withWriterLock<T>(pinDir: string, fn: () => Promise<T> | T): Promise<T> {
  const lockDir = existsSync(pinDir) ? dirname(pinDir) : nearestExisting(pinDir);
  const fd = libc().open(cstr(lockDir), Libc.O_RDONLY | Libc.O_DIRECTORY | Libc.O_CLOEXEC, 0);
  if (fd < 0) throw new CliError(`cannot open ${lockDir} to serialise writers: ${describeErrno(lastErrno())}`);
  try {
    for (;;) {
      if (libc().flock(fd, Libc.LOCK_EX) === 0) break;
      const errno = lastErrno();
      if (errno !== Errno.EINTR) throw new CliError(`cannot lock ${lockDir}: ${describeErrno(errno)}`);
    }
    return await fn();
  } finally {
    libc().close(fd);
  }
}

function nearestExisting(path: string): string {
  let p = dirname(path);
  while (!existsSync(p) && p !== "/") p = dirname(p);
  return p;
}
