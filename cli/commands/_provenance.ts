// Where a policy change comes from, as `status` reports it. The boot
// integration says so through the environment (dist/share: the initramfs
// script sets CGWARDEN_ORIGIN=initramfs, the unit CGWARDEN_ORIGIN=unit);
// anything else is a command someone ran.
import { UsageError } from "../errors.ts";
import type { Provenance } from "../pins/store.ts";

export const ORIGINS = ["initramfs", "unit", "command"] as const;

export function provenance(by: string, file?: { name: string; text: string }): Provenance {
  const origin = process.env.CGWARDEN_ORIGIN || "command";
  if (!(ORIGINS as readonly string[]).includes(origin)) throw new UsageError({ problem: `CGWARDEN_ORIGIN is ${origin}`, fix: `it is one of ${ORIGINS.join(", ")}, or unset` });
  return {
    origin,
    by,
    // The field holds 255 bytes; a longer path is named by its digest alone.
    file: !file ? "" : Buffer.byteLength(file.name) <= 255 ? file.name : "(a path longer than 255 bytes)",
    sha256: file ? new Bun.CryptoHasher("sha256").update(file.text).digest("hex") : "",
  };
}
