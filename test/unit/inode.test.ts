// The inode generation the seal compares (cli/kernel/inode.ts), read on the
// host's own filesystems: ext4 through FS_IOC_GETVERSION, tmpfs through its
// file handle, procfs not at all. That the number equals what the kernel's
// programs read at exec is the seal suite's (a manager on tmpfs still acts).
import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileIdentity, provenIdentity } from "../../cli/kernel/inode.ts";

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** Two files made one after the other in a new directory under `parent`. */
function twoFiles(parent: string): [string, string] {
  const d = mkdtempSync(join(parent, "cgw-inode-"));
  dirs.push(d);
  const files: [string, string] = [join(d, "a"), join(d, "b")];
  for (const f of files) writeFileSync(f, "x");
  return files;
}

for (const [parent, fsType] of [["/tmp", /^ext[234]$/], ["/dev/shm", /^tmpfs$/]] as const) {
  test(`a file's generation is read on ${parent}'s filesystem, and device and inode agree with stat`, () => {
    const [a, b] = twoFiles(parent);
    const ia = fileIdentity(a);
    const ib = fileIdentity(b);
    const st = statSync(a, { bigint: true });
    expect(ia.fsType).toMatch(fsType);
    expect({ dev: ia.dev, ino: ia.ino }).toEqual({ dev: st.dev, ino: st.ino });
    expect(ia.gen).toBeNumber();
    expect(ib.gen).toBeNumber();
    // Random 32-bit generations (get_random_u32 in ext4 and shmem): two files, two numbers.
    expect(ia.gen).not.toBe(ib.gen);
    expect(fileIdentity(a)).toEqual(ia);
    expect(provenIdentity(a, "the file").gen).toBe(ia.gen!);
  });
}

test("procfs has no generation to read: the seal refuses a file there, naming the filesystem and where to put it", () => {
  expect(fileIdentity("/proc/self/status").gen).toBeNull();
  expect(() => provenIdentity("/proc/self/status", "--manager-exe /proc/self/status")).toThrow(
    /^--manager-exe \/proc\/self\/status is on proc, whose inodes carry no generation cgwarden can read, so after a remount another file could take its device and inode number; put it on ext4, xfs, btrfs, f2fs or tmpfs$/,
  );
});

test("a missing file is named", () => {
  expect(() => fileIdentity("/nonexistent/x")).toThrow(/^cannot open \/nonexistent\/x to identify it: /);
});
