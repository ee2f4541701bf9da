// Reading policy files (or standard input), bounded, and the machine's
// policy directory: `apply` and `what-if` take the same arguments.
//
// A directory is the policy it holds: DIR/policy.toml first, then every
// DIR/policy.d/*.toml and *.json in byte order of their names (so 10-ssh.toml
// comes before 20-podman.toml whatever the locale). Names starting with '.'
// and other endings (an editor's foo.toml~, dpkg's foo.toml.dpkg-old) are
// not policy files and are skipped, as systemd skips them in its .d folders.
import { closeSync, lstatSync, openSync, readSync, readdirSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { CliError, UsageError, shown } from "../errors.ts";
import { MAX_POLICY_BYTES } from "../policy/file/source.ts";
import { parsePolicyFile, type PolicyDocument } from "../policy/file/parse.ts";
import { mergeDocuments } from "../policy/file/merge.ts";
import { realpathUnder } from "../policy/lookup.ts";

/** Where drop-ins live, inside a policy directory. */
export const DROP_IN_DIR = "policy.d";
export const MAIN_POLICY = "policy.toml";
const DROP_IN_NAME = /^[^.].*\.(toml|json)$/;

export interface PolicyText {
  /** As given, or joined to the directory given: what messages name. */
  name: string;
  /** Where it was read from (--root followed); null for standard input. */
  path: string | null;
  text: string;
}

/**
 * The files `args` name, directories expanded, in order; their texts
 * together are bounded like one file's. `root`: where the system the files
 * belong to is mounted (apply --root): a symlink among them is followed as
 * that system sees it, so /root/etc/cgwarden/policy.d/x.toml -> /usr/share/x.toml
 * is read from /root/usr/share/x.toml, not from the initramfs.
 */
export async function readPolicyFiles(args: readonly string[], root = "/"): Promise<PolicyText[]> {
  if (args.includes("-") && args.length > 1) throw new UsageError("- (standard input) is a whole policy: give it alone, or give files and directories");
  const at = (p: string) => hostPath(root, p);
  const names = args.flatMap((arg) => expand(arg, at));
  const out: PolicyText[] = [];
  let total = 0;
  for (const name of names) {
    const text = await readPolicy(name, at(name));
    total += Buffer.byteLength(text);
    if (total > MAX_POLICY_BYTES) throw new CliError({ problem: `the policy files given are larger than ${MAX_POLICY_BYTES >> 20} MiB together, more than any policy cgwarden can hold`, fix: `check the paths` });
    out.push({ name, path: name === "-" ? null : at(name), text });
  }
  return out;
}

/** The files' policies as one (merge.ts); a single file is its own document. */
export async function readPolicyDocument(args: readonly string[], root = "/"): Promise<{ doc: PolicyDocument; texts: PolicyText[] }> {
  const texts = await readPolicyFiles(args, root);
  const name = texts.length > 1 ? `${args.join(" ")} (${texts.length} files)` : args.join(" ");
  const doc = mergeDocuments(texts.map((t) => parsePolicyFile(t.text, t.name)), name);
  return { doc, texts };
}

/** Where `path` (under `root`, as given) really is on this machine, its symlinks followed as the system at `root` sees them. */
function hostPath(root: string, path: string): string {
  if (root === "/" || path === "-") return path;
  const full = resolve(path);
  if (!full.startsWith(`${root}/`)) return path;
  const real = realpathUnder(root, full.slice(root.length));
  return real === null ? path : join(root, real);
}

/** Names as given (for messages); `at` says where each is read. */
function expand(arg: string, at: (p: string) => string): string[] {
  if (arg === "-" || !statSync(at(arg), { throwIfNoEntry: false })?.isDirectory()) return [arg];
  const main = join(arg, MAIN_POLICY);
  const dropIns = join(arg, DROP_IN_DIR);
  // Present in any form, policy.toml is read: a link to nothing fails the apply instead of leaving the main policy out.
  const files = lstatSync(main, { throwIfNoEntry: false }) ? [main] : [];
  if (statSync(at(dropIns), { throwIfNoEntry: false })?.isDirectory()) {
    let entries: string[];
    try {
      entries = readdirSync(at(dropIns));
    } catch (e) {
      throw new CliError({ problem: `cannot list ${shown(dropIns)}: ${(e as Error).message}`, fix: `check its permissions` });
    }
    const names = entries.filter((n) => DROP_IN_NAME.test(n)).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
    // Every name that looks like a drop-in is read: one that cannot be (a link to nothing) fails the apply loudly, never silently drops its rules.
    files.push(...names.map((n) => join(dropIns, n)));
  }
  if (!files.length)
    throw new CliError({ problem: `${shown(arg)} is a directory without a policy: it has neither ${MAIN_POLICY} nor ${DROP_IN_DIR}/*.toml`, fix: `give a policy file, or the directory that holds them (/etc/cgwarden)` });
  return files;
}

/**
 * `file` as messages name it, read from `path` (where --root says it really
 * is), at most MAX_POLICY_BYTES: `apply /dev/zero` must fail at once, not
 * fill memory.
 */
export async function readPolicy(file: string, path = file): Promise<string> {
  const name = file === "-" ? "standard input" : `policy file ${file}`;
  return readWhole(file, path, name, MAX_POLICY_BYTES, {
    tooLarge: { problem: `${name} is larger than ${MAX_POLICY_BYTES >> 20} MiB, more than any policy cgwarden can hold`, fix: `check the path, or split the rules across files` },
    fix: `give the path of a TOML or JSON policy file, a directory of them, or - for standard input`,
  }).toString("utf8");
}

/** A small input the CLI takes whole (an authorization): `file`, or - for standard input, at most `max` bytes. */
export function readSmallInput(file: string, what: string, max: number): Buffer {
  const from = file === "-" ? "standard input" : file;
  return readWhole(file, file, `${what} from ${from}`, max, {
    tooLarge: { problem: `${from} is larger than ${max} bytes, more than ${what} can be`, fix: `check the path` },
    fix: `give the path of ${what}`,
  });
}

/** `path` (standard input when `file` is -), whole but at most `max` bytes; `name` is what a failure to read it says. */
function readWhole(file: string, path: string, name: string, max: number, say: { tooLarge: { problem: string; fix: string }; fix: string }): Buffer {
  let fd = 0;
  try {
    if (file !== "-") fd = openSync(path, "r");
    return readFdBounded(fd, max, () => new CliError(say.tooLarge));
  } catch (e) {
    if (e instanceof CliError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    throw new CliError({ problem: `cannot read ${name}: ${code === "ENOENT" ? "no such file" : code === "EISDIR" ? "it is a directory" : (e as Error).message}`, fix: say.fix });
  } finally {
    if (fd > 0) closeSync(fd);
  }
}

function readFdBounded(fd: number, max: number, tooLarge: () => CliError): Buffer {
  const chunks: Buffer[] = [];
  const buf = Buffer.alloc(1 << 16);
  let total = 0;
  for (;;) {
    const n = readSync(fd, buf, 0, buf.length, null);
    if (n <= 0) break;
    total += n;
    if (total > max) throw tooLarge();
    chunks.push(Buffer.from(buf.subarray(0, n)));
  }
  return Buffer.concat(chunks);
}



