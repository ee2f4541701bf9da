// The key seal's certificate in the kernel's keyrings. The kernel verifies
// authorizations against a keyring (bpf_verify_pkcs7_signature() searches
// one), so the certificate goes into a keyring of its own, linked into
// root's user keyring to outlive this process. Once filled, neither may be
// written again, by anyone: no write, link or setattr permission is left
// (keyctl(2) has no capability that overrides them for such keys), so root
// cannot add a certificate of its own next to the sealed one, nor change
// the permissions back. What root can still do is drop them (unlink,
// invalidate): the kernel then frees them, the seal remembers that
// (bpf/seal_key.bpf.h), and the policy stays as it is until reboot.
import { X509Certificate, createHash } from "node:crypto";
import { readFileSync, statSync } from "node:fs";
import { CliError } from "../errors.ts";
import { BpfError, addKey, setKeyPermissions, unlinkKey, USER_KEYRING } from "../libbpf/index.ts";

/** <linux/key.h>: view, read and search for possessor and user; view and search for group and other. */
const KEY_READ_ONLY = 0x0b0b0909;

export interface SealKey {
  /** The certificate, DER. */
  der: Buffer;
  /** Of der, hex: what two seals compare. */
  sha256: string;
  subject: string;
}

/** Larger than any certificate: what a file must be under to be read as one. */
const CERTIFICATE_MAX_BYTES = 64 << 10;

/** The certificate file at `path` (as named), read from `at` (where --root says it is); `what` it is, for errors. */
export function readCertificateFile(path: string, at = path, what = "the seal's certificate"): SealKey {
  let bytes: Buffer;
  try {
    const st = statSync(at);
    if (!st.isFile()) throw new Error("it is not a regular file");
    if (st.size > CERTIFICATE_MAX_BYTES) throw new Error(`it is larger than ${CERTIFICATE_MAX_BYTES} bytes`);
    bytes = readFileSync(at);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new CliError({ problem: `cannot read ${what} ${path}: ${code === "ENOENT" ? "no such file" : (e as Error).message}`, fix: `give the path of an X.509 certificate, PEM or DER` });
  }
  return readCertificate(path, bytes);
}

/** A certificate, PEM or DER, as the key seal records it; a clear error when it is not one. */
function readCertificate(path: string, bytes: Buffer): SealKey {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(bytes);
  } catch (e) {
    throw new CliError({ problem: `${path} is not an X.509 certificate (${(e as Error).message})`, fix: `give the seal's certificate, PEM or DER (for example: openssl req -x509 -newkey rsa:3072 -keyout seal.key -out seal.pem -days 3650 -subj /CN=cgwarden-seal -nodes)` });
  }
  const der = Buffer.from(cert.raw);
  return { der, sha256: createHash("sha256").update(der).digest("hex"), subject: cert.subject.replace(/\n/g, ", ") };
}

/** Puts the certificate into a new keyring that nobody can write: their serials. */
export function installSealKey(key: SealKey, label: string): { ring: number; cert: number } {
  let ring = 0;
  try {
    ring = addKey("keyring", `cgwarden:seal:${label}`, null, USER_KEYRING);
    const cert = addKey("asymmetric", "", key.der, ring);
    setKeyPermissions(cert, KEY_READ_ONLY);
    setKeyPermissions(ring, KEY_READ_ONLY);
    return { ring, cert };
  } catch (e) {
    if (ring) dropSealKey(ring);
    if (e instanceof BpfError)
      throw new CliError({ problem: `the kernel did not take the seal's certificate (${key.subject}): ${e.message}`, fix: `use an RSA certificate (the kernel's X.509 parser and CONFIG_SYSTEM_DATA_VERIFICATION are needed; nothing was changed)` });
    throw e;
  }
}

/** Unlinks a keyring a key seal no longer names from root's user keyring; already gone is fine. */
export function dropSealKey(ring: number): void {
  try {
    unlinkKey(ring, USER_KEYRING);
  } catch {
    // Gone already (unlinked by hand, or this boot never had it): nothing to drop.
  }
}
