// `apply --root DIR`: the initramfs applies the real root's policy while that
// root is mounted at /root, so executables, their symlinks and users must
// resolve as that system sees them, not as the initramfs does.
import { afterAll, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { resolveExe, uidOfUser } from "../../cli/policy/lookup.ts";

const root = mkdtempSync(join(tmpdir(), "cgwarden-root-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
mkdirSync(join(root, "usr/lib/systemd"), { recursive: true });
mkdirSync(join(root, "etc"));
writeFileSync(join(root, "usr/lib/systemd/systemd"), "");
symlinkSync("usr/lib", join(root, "lib")); // merged /usr: relative
mkdirSync(join(root, "sbin-links"));
symlinkSync("/lib/systemd/systemd", join(root, "sbin-links/init")); // absolute: means <root>/lib/..., not the host's
writeFileSync(join(root, "etc/passwd"), "root:x:0:0::/root:/bin/sh\nsvc:x:4242:4242::/:/bin/false\n");

test("an absolute symlink inside the root leads into the root", () => {
  const want = statSync(join(root, "usr/lib/systemd/systemd"), { bigint: true });
  expect(resolveExe("/sbin-links/init", "exe", root)).toEqual({ path: "/usr/lib/systemd/systemd", dev: want.dev, ino: want.ino });
  expect(resolveExe("/lib/systemd/systemd", "exe", root).path).toBe("/usr/lib/systemd/systemd");
});

test("a path missing under the root is missing, whatever the host has", () => {
  expect(() => resolveExe("/bin/sh", "exe", root)).toThrow(`exe /bin/sh does not exist under ${root}`);
});

test("users come from the root's /etc/passwd, and only from there", () => {
  expect(uidOfUser("svc", root)).toBe(4242);
  expect(() => uidOfUser("nobody", root)).toThrow(`no user named 'nobody' in ${join(root, "etc/passwd")}`);
});
