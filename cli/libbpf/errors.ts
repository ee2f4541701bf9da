import { libbpf } from "./ffi.ts";
import { logMark, logSince } from "./log.ts";

/** A failed libbpf or bpf(2) call, with errno and what libbpf said about it. */
export class BpfError extends Error {
  constructor(
    readonly op: string,
    readonly errno: number,
    readonly libbpfLog: string[] = [],
  ) {
    super(`${op}: ${describeErrno(errno)}${summarise(libbpfLog)}`);
    this.name = "BpfError";
  }
}

export function describeErrno(errno: number): string {
  const buf = Buffer.alloc(256);
  libbpf().libbpf_strerror(errno, buf, buf.length);
  const text = buf.toString("utf8", 0, buf.indexOf(0));
  return `${text || "error"} (errno ${errno})`;
}

// libbpf's ulimit -l hint is wrong on every kernel with memcg accounting, which is all we support.
const NOISE = /RLIMIT_MEMLOCK|ulimit -l|-- BEGIN PROG LOAD LOG --|-- END PROG LOAD LOG --/;

function summarise(lines: string[]): string {
  const telling = lines.filter((l) => !NOISE.test(l)).map((l) => l.replace(/^libbpf: /, ""));
  // libbpf names the program the verifier refused: "prog 'NAME': BPF program load failed: ...".
  const refused = telling.map((l) => /^prog '([^']+)': (?:BPF program load failed|failed to load)/.exec(l)?.[1]).find(Boolean);
  const which = refused ? `; program ${refused}` : "";
  // In a verifier log, the reason is the last line before "processed N insns" that is not an instruction.
  const processed = telling.findLastIndex((l) => /^processed \d+ insns/.test(l));
  if (processed > 0) {
    const reason = telling.slice(0, processed).findLast((l) => !/^\d+: /.test(l) && !l.startsWith(";"));
    if (reason) return `${which}; verifier: ${reason} (run with --verbose for the whole log)`;
  }
  const last = telling.at(-1);
  return last ? `${which}; libbpf: ${last}` : which;
}

/** Runs a libbpf call returning a negative errno on failure. */
export function check(op: string, call: () => number): number {
  const mark = logMark();
  const rc = call();
  if (rc < 0) throw new BpfError(op, -rc, logSince(mark));
  return rc;
}
