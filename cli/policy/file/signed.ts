// Policy files signed by a key seal's holder. On a key-sealed machine the
// boot applies only these (apply --signed-by, from the initramfs): root can
// edit /etc/cgwarden, but not sign what it wrote. Each file FILE carries its
// signature in FILE.sig, made where the private key is:
//
//   openssl dgst -sha256 -sign seal.key -out policy.toml.sig policy.toml
//
// (RSA PKCS#1 v1.5 or ECDSA, over the file's exact bytes), and checked here
// with the certificate's public key by Bun's own crypto (BoringSSL).
import { X509Certificate, verify } from "node:crypto";
import { readFileSync, statSync } from "node:fs";
import { readCertificateFile, type SealKey } from "../../kernel/keyring.ts";

/** Larger than any signature a certificate's key makes. */
const SIGNATURE_MAX_BYTES = 16 << 10;

export const SIGNATURE_SUFFIX = ".sig";

export interface SignableText {
  /** What messages name. */
  name: string;
  /** Where it was read; null for standard input, which cannot carry a signature. */
  path: string | null;
  text: string;
}

/** The certificate the boot trusts, read as the key seal reads its own; a clear error when it is none. */
export const trustedCertificate = (path: string): SealKey => readCertificateFile(path, path, "the certificate --signed-by names");

/** Why these files are not all signed by `key`, naming the first that is not; null when they are. */
export function signatureProblem(texts: readonly SignableText[], key: SealKey): string | null {
  const publicKey = new X509Certificate(key.der).publicKey;
  for (const t of texts) {
    if (t.path === null) return `standard input cannot carry a signature`;
    const sigPath = `${t.path}${SIGNATURE_SUFFIX}`;
    let sig: Buffer;
    try {
      const st = statSync(sigPath);
      if (!st.isFile() || st.size > SIGNATURE_MAX_BYTES) return `${t.name}${SIGNATURE_SUFFIX} is not a signature file`;
      sig = readFileSync(sigPath);
    } catch {
      return `${t.name} has no signature (${t.name}${SIGNATURE_SUFFIX})`;
    }
    let good = false;
    try {
      good = verify("sha256", Buffer.from(t.text, "utf8"), publicKey, sig);
    } catch {
      good = false;
    }
    if (!good) return `${t.name}${SIGNATURE_SUFFIX} is not a signature of ${t.name} by the key of ${key.subject}`;
  }
  return null;
}
