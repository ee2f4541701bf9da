// All command output goes through here, so tests can run commands in-process and read what they printed.
import { writeSync } from "node:fs";

export interface Sink {
  out(line: string): void;
  err(line: string): void;
}

/**
 * Straight to the file descriptor: process.stdout would load Node's stream
 * machinery, which costs more than the rest of a `status` (see test/bench).
 * A reader that went away (`cgwarden status | head`) ends the command the
 * way it ends any Unix tool, as SIGPIPE would (status 141), without a trace.
 */
function write(fd: 1 | 2, text: string): void {
  const bytes = Buffer.from(text);
  let done = 0;
  try {
    while (done < bytes.length) done += writeSync(fd, bytes, done);
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (code === "EPIPE") process.exit(141);
    // A descriptor some parent left non-blocking: Node's stream waits for it.
    if (code === "EAGAIN") (fd === 1 ? process.stdout : process.stderr).write(bytes.subarray(done));
    else throw e;
  }
}

const processSink: Sink = {
  out: (line) => write(1, `${line}\n`),
  err: (line) => write(2, `${line}\n`),
};

let sink: Sink = processSink;

export function setSink(next: Sink | null): void {
  sink = next ?? processSink;
}

export const print = (line = ""): void => sink.out(line);
export const note = (line: string): void => sink.err(line);
export const printJson = (value: unknown): void => sink.out(JSON.stringify(value, jsonReplacer));

// Cgroup ids and inode numbers are u64; JSON carries them as numbers when exact, strings otherwise.
function jsonReplacer(_key: string, value: unknown): unknown {
  if (typeof value === "bigint") return value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : value.toString();
  return value;
}
