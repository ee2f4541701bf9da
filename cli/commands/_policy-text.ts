// Reading a policy file's text (or standard input), bounded: `apply` and
// `what-if` take the same files.
import { closeSync, openSync, readSync } from "node:fs";
import { CliError } from "../errors.ts";
import { MAX_POLICY_BYTES } from "../policy/file/source.ts";

export async function readPolicy(file: string): Promise<string> {
  const name = file === "-" ? "standard input" : `policy file ${file}`;
  let fd = 0;
  try {
    if (file !== "-") fd = openSync(file, "r");
    return readBounded(fd, name);
  } catch (e) {
    if (e instanceof CliError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    throw new CliError(`cannot read ${name}: ${code === "ENOENT" ? "no such file" : code === "EISDIR" ? "it is a directory" : (e as Error).message}; give the path of a TOML or JSON policy file, or - for standard input`);
  } finally {
    if (fd > 0) closeSync(fd);
  }
}

/** Reads at most MAX_POLICY_BYTES: `apply /dev/zero` must fail at once, not fill memory. */
function readBounded(fd: number, name: string): string {
  const chunks: Buffer[] = [];
  const buf = Buffer.alloc(1 << 16);
  let total = 0;
  for (;;) {
    const n = readSync(fd, buf, 0, buf.length, null);
    if (n <= 0) break;
    total += n;
    if (total > MAX_POLICY_BYTES)
      throw new CliError(`${name} is larger than ${MAX_POLICY_BYTES >> 20} MiB, more than any policy cgwarden can hold; check the path, or split the rules across files`);
    chunks.push(Buffer.from(buf.subarray(0, n)));
  }
  return Buffer.concat(chunks).toString("utf8");
}

