// The kernel's key retention service, through libc's syscall(): add_key(2)
// and the keyctl(2) operations the key seal needs. Errors carry errno.
import { ptr } from "bun:ffi";
import { BpfError } from "./errors.ts";
import { cstr, lastErrno, libc } from "./ffi.ts";
import { Keyctl, Libc } from "./uapi.ts";

export const USER_KEYRING = Keyctl.KEY_SPEC_USER_KEYRING;

function syscall(what: string, nr: number, ...args: Array<number | bigint>): number {
  const a = [...args, 0, 0, 0, 0, 0].slice(0, 5);
  const rc = Number(libc().syscall(nr, a[0]!, a[1]!, a[2]!, a[3]!, a[4]!));
  // errno can read 0 when the runtime ran libc between the call and this read: the call still failed.
  if (rc < 0) throw new BpfError(what, lastErrno() || 1);
  return rc;
}

/** add_key(2): the new key's serial. `payload` null for a keyring. */
export function addKey(type: string, description: string, payload: Buffer | null, keyring: number): number {
  const t = cstr(type);
  const d = cstr(description);
  const p = payload && payload.length ? BigInt(ptr(payload)) : 0n;
  return syscall(`adding a ${type} key to the kernel's keyrings`, Libc.SYS_add_key, BigInt(ptr(t)), BigInt(ptr(d)), p, payload?.length ?? 0, keyring);
}

/** KEYCTL_SETPERM: the key's permission mask (possessor, user, group, other; <linux/key.h>). */
export function setKeyPermissions(serial: number, perm: number): void {
  syscall(`setting the permissions of key ${serial}`, Libc.SYS_keyctl, Keyctl.KEYCTL_SETPERM, serial, perm >>> 0);
}

/** KEYCTL_UNLINK: removes the key from a keyring (the kernel frees it once nothing holds it). */
export function unlinkKey(serial: number, keyring: number): void {
  syscall(`unlinking key ${serial}`, Libc.SYS_keyctl, Keyctl.KEYCTL_UNLINK, serial, keyring);
}
