// All command output goes through here, so tests can run commands in-process and read what they printed.
export interface Sink {
  out(line: string): void;
  err(line: string): void;
}

/**
 * A reader that went away (`cgwarden status | head`) ends the command the
 * way it ends any Unix tool, as SIGPIPE would (status 141), without a trace.
 */
function write(stream: NodeJS.WriteStream, text: string): void {
  try {
    stream.write(text);
  } catch (e) {
    if ((e as { code?: string }).code === "EPIPE") process.exit(141);
    throw e;
  }
}

const processSink: Sink = {
  out: (line) => write(process.stdout, `${line}\n`),
  err: (line) => write(process.stderr, `${line}\n`),
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
