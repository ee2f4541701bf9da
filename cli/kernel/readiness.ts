// Can this kernel enforce, and by which mechanism? Every answer comes from
// the kernel itself: mounts, BTF, the active LSM list, lockdown, and a load
// of the real object, configured as `load` loads it (attached nowhere).
import { existsSync, readFileSync } from "node:fs";
import { BpfError, Errno, KernelBtf } from "../libbpf/index.ts";
import { DEFAULT_CAPACITIES, openConfigured } from "../object/configure.ts";
import { attachLabel, findNativeHook, MAINLINE, NATIVE, NATIVE_HOOK, SEAL_HOOKS, SEAL_KFUNCS, SEAL_REQUIRES, type Mechanism } from "../object/mechanism.ts";
import { BPFFS, CGROUP2, SECURITYFS, ensureMounted, findMount } from "./mounts.ts";
import { lockdownMode } from "./lockdown.ts";
import { GENERATION_FILESYSTEMS, fileIdentity } from "./inode.ts";

export type CheckState = "ok" | "fail" | "warn" | "info";

export interface CheckItem {
  id: string;
  state: CheckState;
  summary: string;
  fix?: string;
}

export interface Readiness {
  items: CheckItem[];
  mechanism: Mechanism | null;
  /** Hooks `cgwarden seal` needs that this kernel lacks; empty: it can seal. */
  sealMissing: string[];
  /** Why enforcement is impossible, when it is. */
  reason?: string;
  fix?: string;
}

export interface AssessOptions {
  /**
   * Load the object to prove it verifies. `check` does; `load` does not
   * need to, since its own load is the proof and its error the same.
   */
  verify: boolean;
}

export async function assessKernel(opts: AssessOptions = { verify: true }): Promise<Readiness> {
  const items: CheckItem[] = [];
  const add = (item: CheckItem) => items.push(item);

  const cg2 = findMount("cgroup2", CGROUP2);
  const hybrid = !!findMount("cgroup");
  add(
    cg2
      ? {
          id: "cgroup2",
          state: hybrid ? "warn" : "ok",
          summary: `cgroup2 mounted at ${cg2.mountPoint}${hybrid ? " (hybrid layout: cgroup v1 hierarchies are mounted too, and v1 moves are not policed)" : ""}`,
          fix: hybrid ? "boot with systemd.unified_cgroup_hierarchy=1 to use cgroup v2 only" : undefined,
        }
      : { id: "cgroup2", state: "fail", summary: "no cgroup2 filesystem is mounted", fix: "mount -t cgroup2 none /sys/fs/cgroup" },
  );

  for (const [id, fs, path] of [
    ["bpffs", "bpf", BPFFS],
    ["securityfs", "securityfs", SECURITYFS],
  ] as const) {
    try {
      const mounted = ensureMounted(fs, path);
      add({ id, state: "ok", summary: mounted ? `${fs} was not mounted; mounted it at ${path}` : `${fs} mounted at ${path}` });
    } catch (e) {
      add({ id, state: "fail", summary: (e as Error).message, fix: `mount -t ${fs} ${fs} ${path}` });
    }
  }

  const hasBtf = existsSync("/sys/kernel/btf/vmlinux");
  add(
    hasBtf
      ? { id: "btf", state: "ok", summary: "kernel BTF present at /sys/kernel/btf/vmlinux" }
      : { id: "btf", state: "fail", summary: "kernel BTF missing", fix: "use a kernel built with CONFIG_DEBUG_INFO_BTF=y" },
  );

  const lsmList = existsSync(`${SECURITYFS}/lsm`) ? readFileSync(`${SECURITYFS}/lsm`, "utf8").trim() : "";
  const bpfLsm = lsmList.split(",").includes("bpf");
  add(
    bpfLsm
      ? { id: "bpf-lsm", state: "ok", summary: `BPF LSM active (${lsmList})` }
      : {
          id: "bpf-lsm",
          state: "fail",
          summary: `BPF LSM not active (active: ${lsmList || "unknown"})`,
          fix: `add lsm=${lsmList ? `${lsmList},` : ""}bpf to the kernel command line (needs CONFIG_BPF_LSM=y)`,
        },
  );

  const lockdown = lockdownMode();
  add({
    id: "lockdown",
    state: "info",
    summary: lockdown ? `lockdown=${lockdown}` : "the lockdown LSM is not active",
  });

  let native = false;
  let mainline = false;
  let sealMissing = [...SEAL_REQUIRES];
  if (hasBtf) {
    const btf = KernelBtf.load();
    try {
      const hook = findNativeHook(btf);
      native = hook.state === "present" && NATIVE.requires.every((f) => btf.hasFunction(f));
      const missing = MAINLINE.requires.filter((f) => !btf.hasFunction(f));
      mainline = missing.length === 0;
      add(
        native
          ? { id: "native-hook", state: "ok", summary: `kernel has the cgroup_attach LSM hook (${NATIVE_HOOK.fn}(${NATIVE_HOOK.params.join(", ")}))` }
          : hook.state === "other-signature"
            ? {
                id: "native-hook",
                state: "info",
                summary: `kernel has ${NATIVE_HOOK.fn}(${hook.params.join(", ")}), not the signature this cgwarden was built for (${NATIVE_HOOK.params.join(", ")}); the mainline mechanism is the fallback`,
              }
            : { id: "native-hook", state: "info", summary: "kernel lacks the proposed cgroup_attach LSM hook; the mainline mechanism is the fallback" },
      );
      add(
        mainline
          ? { id: "mainline-hooks", state: "ok", summary: `mainline attach points present (${MAINLINE.requires.join(", ")})` }
          : {
              id: "mainline-hooks",
              state: native ? "info" : "fail",
              summary: `mainline attach points missing: ${missing.join(", ")}`,
              fix: "these functions are inlined or absent in this kernel build",
            },
      );
      sealMissing = sealMissing.filter((f) => !btf.hasFunction(f));
      add(
        sealMissing.length === 0
          ? { id: "seal-hooks", state: "ok", summary: `hooks for 'cgwarden seal' present (${[...new Set(Object.values(SEAL_HOOKS).map((h) => attachLabel(h.hook)))].join(", ")}; kfuncs ${SEAL_KFUNCS.join(", ")})` }
          : { id: "seal-hooks", state: "warn", summary: `'cgwarden seal' is refused here: the kernel lacks ${sealMissing.join(", ")}` },
      );
      // A seal with managers records this binary by its inode generation (see inode.ts): say now where that cannot be read.
      const self = fileIdentity("/proc/self/exe");
      add(
        self.gen !== null
          ? { id: "seal-binary", state: "ok", summary: `a seal with managers can name this cgwarden (${process.execPath}, on ${self.fsType}): its inode generation is readable` }
          : {
              id: "seal-binary",
              state: "warn",
              summary: `'cgwarden seal' with managers is refused for this cgwarden: ${process.execPath} is on ${self.fsType}, whose inodes carry no generation cgwarden can read`,
              fix: `install cgwarden on ${GENERATION_FILESYSTEMS} (install-files puts it in /usr/sbin); a seal --until-reboot needs no CLI`,
            },
      );
    } finally {
      btf.free();
    }
  }

  const mechanism = native ? NATIVE : mainline ? MAINLINE : null;
  if (opts.verify && mechanism && !items.some((i) => i.state === "fail" && i.id !== "mainline-hooks")) {
    // Never answered from a cache: a yes kept from earlier would hide a refusal that came
    // since (a seal's --lock-bpf, another LSM's policy), and `check` must not lie.
    const withSeal = sealMissing.length === 0;
    const failure = await verifyObject(mechanism, withSeal);
    add(
      failure === null
        ? { id: "load", state: "ok", summary: `every program of the ${mechanism.name} mechanism${withSeal ? " and the seal" : ""} verifies on this kernel (loaded, attached nowhere)` }
        : { id: "load", state: "fail", summary: `the kernel refuses cgwarden's object: ${failure.message}`, fix: loadFix(failure, lockdown) },
    );
  }

  const blocking = items.find((i) => i.state === "fail" && i.id !== "mainline-hooks");
  if (blocking) return { items, mechanism: null, sealMissing, reason: blocking.summary, fix: blocking.fix };
  if (!cg2 || !bpfLsm) return { items, mechanism: null, sealMissing, reason: "kernel cannot run cgwarden's programs" };
  if (mechanism) return { items, mechanism, sealMissing };
  return { items, mechanism: null, sealMissing, reason: "neither the cgroup_attach hook nor the mainline attach points exist" };
}

/** Loads the object as `load` would; null on success, the error otherwise. */
async function verifyObject(mechanism: Mechanism, withSeal: boolean): Promise<Error | null> {
  try {
    const obj = await openConfigured(mechanism, withSeal, DEFAULT_CAPACITIES, "cgwarden_check");
    try {
      obj.load();
    } finally {
      obj.close();
    }
    return null;
  } catch (e) {
    return e as Error;
  }
}

/** What to do when the kernel refuses the object: `check` and `load` say the same. */
export function loadFix(failure: Error, lockdown: string | null = lockdownMode()): string {
  const bpf = failure instanceof BpfError ? failure : null;
  if (bpf?.errno === Errno.EPERM && !/verifier:/.test(bpf.message))
    return "this kernel build does not allow BPF trampolines (LSM/fentry) even for root; boot a kernel that does (e.g. Debian's 6.1 or 6.12)";
  if (lockdown === "confidentiality" && /probe_read/.test(failure.message))
    return "under lockdown=confidentiality cgwarden reads kernel memory through bpf_rdonly_cast(), which Linux 6.2 and later have; boot a newer kernel, or with lockdown=integrity";
  return "this kernel's verifier refuses the program named above; report it with `uname -r` and the output of `cgwarden --verbose check`";
}
