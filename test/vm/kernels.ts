// The kernel matrix the guest tests run on. Two stock Debian kernels show
// what cgwarden can do without the proposed hook (6.1 = bookworm's default,
// 6.12 = the newest bookworm backport); hook-6.12 is the same 6.12 source
// with the bpf_lsm_cgroup_attach patch, where full enforcement is possible.
// debian-sid is Debian unstable's newest cloud kernel (7.2 when added): the
// verifier and field names of the kernels newer distributions run.

import { ensureDebianKernel, ensureSidKernel } from "./debian-kernel.ts";
import { ensureHookKernel } from "./hook-kernel.ts";

export type KernelName = "debian-6.1" | "debian-6.12" | "debian-sid" | "hook-6.12";

export const KERNEL_NAMES: readonly KernelName[] = ["debian-6.1", "debian-6.12", "debian-sid", "hook-6.12"];

export interface GuestKernel {
  name: KernelName;
  /** Bootable image for QEMU's -kernel. */
  bzImage: string;
  /** Uncompressed host .ko files the initramfs loads, in this order. */
  modules: string[];
  /** Debian package and version, or source version + build key. */
  description: string;
  /** Whether the kernel carries the bpf_lsm_cgroup_attach hook. */
  hasCgroupAttachHook: boolean;
}

export function isKernelName(s: string): s is KernelName {
  return (KERNEL_NAMES as readonly string[]).includes(s);
}

const pending = new Map<KernelName, Promise<GuestKernel>>();

/**
 * Download or build (once; cached) the kernel and return how to boot it.
 * Callers share one promise per kernel, so a build started early (test/run.ts
 * starts the hook kernel's while other kernels' suites run) is awaited, not
 * repeated.
 */
export function ensureKernel(name: KernelName): Promise<GuestKernel> {
  let p = pending.get(name);
  if (!p) {
    p = resolveKernel(name);
    p.catch(() => {}); // a build started early fails where it is awaited, not as an unhandled rejection
    pending.set(name, p);
  }
  return p;
}

async function resolveKernel(name: KernelName): Promise<GuestKernel> {
  switch (name) {
    case "debian-6.1": {
      const k = await ensureDebianKernel({
        metapackage: "linux-image-cloud-amd64",
        searchRegex: "^linux-image-6\\.1\\.0-[0-9]+-cloud-amd64-unsigned$",
      });
      return { name, bzImage: k.bzImage, modules: k.modules, description: `${k.package} ${k.version}`, hasCgroupAttachHook: false };
    }
    case "debian-6.12": {
      const k = await ensureDebianKernel({
        metapackage: "linux-image-6.12-cloud-amd64",
        searchRegex: "^linux-image-6\\.12\\.[0-9]+\\+deb12-cloud-amd64-unsigned$",
      });
      return { name, bzImage: k.bzImage, modules: k.modules, description: `${k.package} ${k.version}`, hasCgroupAttachHook: false };
    }
    case "debian-sid": {
      const k = await ensureSidKernel();
      return { name, bzImage: k.bzImage, modules: k.modules, description: `${k.package} ${k.version} (Debian unstable)`, hasCgroupAttachHook: false };
    }
    case "hook-6.12": {
      const k = await ensureHookKernel();
      return {
        name,
        bzImage: k.bzImage,
        modules: [], // built with CONFIG_MODULES=n: virtiofs is built in
        description: `linux-source-6.12 ${k.sourceVersion} + cgroup-attach-hook.patch`,
        hasCgroupAttachHook: true,
      };
    }
  }
}
