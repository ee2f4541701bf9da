// The kernel's lockdown mode: what a hardened machine allows BPF programs.
import { existsSync, readFileSync } from "node:fs";
import { SECURITYFS } from "./mounts.ts";

/** "none", "integrity" or "confidentiality"; null without the lockdown LSM (or securityfs unmounted). */
export function lockdownMode(): string | null {
  const path = `${SECURITYFS}/lockdown`;
  if (!existsSync(path)) return null;
  return /\[(\w+)\]/.exec(readFileSync(path, "utf8"))?.[1] ?? null;
}
