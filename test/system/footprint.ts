// What the installed image holds, where both the image build
// (installed.ts) and the booted machine (machine.system.ts) look for it:
// what each initramfs generator puts in, where the purged image keeps the
// list of what the purge removed, and how hard the early mover tries.

/** Parts of paths in an initramfs made by initramfs-tools with cgwarden's hook (lsinitramfs): libbpf.so.1 is also the start of the library's real name. */
export const INITRAMFS_TOOLS_CARRIES = ["usr/sbin/cgwarden", "scripts/init-bottom/cgwarden", "libbpf.so.1"];

/** Parts of paths in an initramfs made by dracut with cgwarden's module (lsinitrd). */
export const DRACUT_CARRIES = ["usr/sbin/cgwarden", "libbpf.so.1", "pre-pivot/90-cgwarden-apply.sh"];

/**
 * In the purged image: every path the package owned (dpkg -L, directories
 * it shared left out) and its scripts made, one per line, for the purged
 * boot to see that none came back.
 */
export const PURGED_LIST = "/var/lib/cgwarden-test/purged-files";

/** The early mover (installed.ts) tries at least this many times, not only until uptime 60 s: a loaded host boots slowly. */
export const MOVER_ATTEMPTS = 20;

/**
 * The key-sealed machine (installed.ts's keyed variant): the seal's
 * certificate where the boot files look for it, the private key the test
 * signs with (on a real machine it is elsewhere), and what its initramfs
 * carries besides: the certificate and today's signed policy.
 */
export const KEYED = {
  cert: "/etc/cgwarden/seal.pem",
  key: "/root/cgw-seal-test.key",
  subject: "CN=cgwarden-system-seal",
  carries: ["etc/cgwarden/seal.pem", "etc/cgwarden/signed/policy.toml.sig"],
};
