// A key seal's exchange, from the side of the process that asks (see struct
// cgw_challenge in bpf/cgwarden.h for the whole of it): read this process's
// challenge from the kernel, have it signed by the key's holder, present the
// signature. The kernel verifies it; this side only carries bytes, so a bug
// here can refuse a change but never let one through.
import { spawnSync } from "node:child_process";
import { CliError } from "../errors.ts";
import { note } from "../output.ts";
import { BpfError, Errno, MapFd } from "../libbpf/index.ts";
import { processFacts } from "../kernel/procfs.ts";
import { AuthorizationLayout, ChallengeLayout, ProcessKeyLayout } from "../object/abi.ts";
import { CGW_AUTHORIZATION_MAX, CGW_AUTHORIZATION_TTL_S } from "../object/header.ts";
import { pinPaths } from "./paths.ts";
import { readSeal, sealedError } from "./state.ts";

/** Where the signature comes from: a command that signs the challenge on its standard input, or a file (- for standard input) read once the challenge is shown. */
export type AuthorizationSource = { kind: "command"; command: string } | { kind: "input"; file: string; read: (file: string) => Buffer };

let source: AuthorizationSource | null = null;
let authorized = false;

/** Set once per command, from its --authorize-with or --authorization. */
export function useAuthorization(s: AuthorizationSource | null): void {
  source = s;
}

/**
 * Before a change to a key-sealed policy, makes this process one the seal
 * lets change it, or fails with what to do. Nothing to do when the policy
 * is not key-sealed, or this process was authorized already.
 */
export function authorizeIfKeySealed(pinDir: string): void {
  const seal = readSeal(pinDir);
  if (authorized || !seal?.sealed || !seal.key) return;
  if (!source) throw sealedError(pinDir, seal, "change, detach or unpin it");
  const me = processFacts(process.pid);
  const key = ProcessKeyLayout.encode({ tgid: me.tgid, start_ticks: me.startTicks });
  const p = pinPaths(pinDir);
  const board = MapFd.openPinned(p.map("challenge_board"), true);
  if (!board) throw new CliError(`the key seal's challenge board is missing from ${p.mapsDir}`);
  let raw: Buffer | null;
  try {
    raw = board.lookup(key, ChallengeLayout.size); // the lookup is the request: the kernel issues it first
  } finally {
    board.close();
  }
  const challenge = raw && ChallengeLayout.decode(raw);
  if (!raw || !challenge || challenge.tgid !== me.tgid || challenge.start_ticks !== me.startTicks)
    throw new CliError({ problem: `the kernel issued this process no challenge`, fix: `check 'cgwarden status': the seal's programs must be attached` });
  const pkcs7 = signatureOf(source, raw, me.tgid);
  if (pkcs7.length === 0 || pkcs7.length > CGW_AUTHORIZATION_MAX)
    throw new CliError({ problem: `the authorization is ${pkcs7.length} bytes; an authorization is a DER or PEM PKCS#7/CMS signature of at most ${CGW_AUTHORIZATION_MAX} bytes`, fix: `sign with: openssl cms -sign -binary -noattr -outform DER -signer CERT -inkey KEY` });
  const presented = MapFd.openPinned(p.map("authorizations"));
  if (!presented) throw new CliError(`the key seal's authorizations map is missing from ${p.mapsDir}`);
  try {
    presented.update(key, AuthorizationLayout.encode({ len: pkcs7.length, pkcs7 }));
  } catch (e) {
    throw e instanceof BpfError ? refused(e.errno, seal.key.subject) : e;
  } finally {
    presented.close();
  }
  authorized = true;
  note(`authorized by the seal's key (${seal.key.subject}) for this process, pid ${me.tgid}`);
}

/** The kernel's reasons (bpf/seal_key.bpf.h), each as the admin can act on it. */
function refused(errno: number, subject: string): CliError {
  const fix = `sign this process's challenge with the key of ${subject}, then try again (see 'cgwarden audit --verdict all')`;
  switch (errno) {
    case Errno.EKEYREJECTED:
      return new CliError({ problem: `the kernel refused the authorization: its signature does not verify against the seal's key (${subject})`, fix });
    case Errno.EKEYEXPIRED:
      return new CliError({ problem: `the kernel refused the authorization: the challenge expired (it is valid for ${CGW_AUTHORIZATION_TTL_S} s)`, fix });
    case Errno.ENOKEY:
      return new CliError({ problem: `the kernel refused the authorization: this process's challenge was used already, or the seal's key is gone from the kernel's keyrings`, fix: `ask again; if the key was unlinked or revoked, the policy stays as it is until the next boot` });
    case Errno.EINVAL:
      return new CliError({ problem: `the kernel refused the authorization: it is not a signature it can read`, fix });
    default:
      return new CliError({ problem: `the kernel refused the authorization (errno ${errno}): a traced process is never authorized`, fix });
  }
}

/** The signature, DER, from the source; PEM (CMS or PKCS7) and bare base64 are unwrapped. */
function signatureOf(s: AuthorizationSource, challenge: Buffer, pid: number): Buffer {
  let out: Buffer;
  if (s.kind === "command") {
    const r = spawnSync("/bin/sh", ["-c", s.command], { input: challenge, stdio: ["pipe", "pipe", "inherit"], maxBuffer: 1 << 20 });
    if (r.error || r.status !== 0)
      throw new CliError({ problem: `the signing command failed (${r.error?.message ?? `exit ${r.status}`}): ${s.command}`, fix: `it gets the challenge on standard input and must write the signature (DER or PEM) on standard output` });
    out = r.stdout;
  } else {
    const b64 = challenge.toString("base64");
    process.stderr.write(
      `cgwarden: this change needs an authorization for pid ${pid}; sign this challenge (base64, ${challenge.length} bytes) with the seal's key within ${CGW_AUTHORIZATION_TTL_S} s:\n${b64}\n` +
        `cgwarden: for example: echo ${b64} | base64 -d | openssl cms -sign -binary -noattr -outform PEM -signer CERT -inkey KEY\n` +
        `cgwarden: then give the signature on ${s.file === "-" ? "standard input (end with Ctrl-D)" : s.file}\n`,
    );
    out = s.read(s.file);
  }
  return unwrap(out);
}

function unwrap(b: Buffer): Buffer {
  const text = b.toString("latin1");
  const pem = /-----BEGIN (?:CMS|PKCS7)-----([\s\S]*?)-----END (?:CMS|PKCS7)-----/.exec(text);
  if (pem) return Buffer.from(pem[1]!.replace(/\s+/g, ""), "base64");
  if (/^[A-Za-z0-9+/=\s]+$/.test(text) && text.trim().length > 0) return Buffer.from(text.replace(/\s+/g, ""), "base64");
  return b;
}
