// All command output goes through here, so tests can run commands in-process and read what they printed.
export interface Sink {
  out(line: string): void;
  err(line: string): void;
}

const processSink: Sink = {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
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
