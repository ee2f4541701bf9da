// Can this kernel enforce, and by which mechanism? Every answer comes from
// the kernel itself: mounts, BTF, the active LSM list, and a real program load.
import { existsSync, readFileSync } from "node:fs";
import { BpfObject, BpfError, Errno, KernelBtf } from "../libbpf/index.ts";
import { objectBytes } from "../object/embedded.ts";
import { MAINLINE, NATIVE, PROBES, SEAL_HOOKS, type Mechanism } from "../object/mechanism.ts";
import { BPFFS, SECURITYFS, ensureMounted, findMount } from "./mounts.ts";

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

export async function assessKernel(): Promise<Readiness> {
  const items: CheckItem[] = [];
  const add = (item: CheckItem) => items.push(item);

  const cg2 = findMount("cgroup2", "/sys/fs/cgroup");
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

  let loadable = false;
  if (hasBtf) {
    const lsm = await probeLoad(PROBES.lsm);
    const tramp = await probeLoad(PROBES.trampoline);
    loadable = lsm === null && tramp === null;
    const failure = lsm ?? tramp;
    add(
      loadable
        ? { id: "load", state: "ok", summary: "kernel loads LSM and trampoline (fentry/fexit) programs" }
        : {
            id: "load",
            state: "fail",
            summary: `kernel refuses to load ${lsm ? "LSM" : "trampoline"} programs: ${failure?.message}`,
            fix:
              failure instanceof BpfError && failure.errno === Errno.EPERM
                ? "this kernel build does not allow BPF trampolines (LSM/fentry) even for root; boot a kernel that does (e.g. Debian's 6.1 or 6.12)"
                : "run as root on a kernel with CONFIG_BPF_LSM, CONFIG_BPF_JIT and CONFIG_DEBUG_INFO_BTF",
          },
    );
  }

  let native = false;
  let mainline = false;
  let sealMissing = Object.values(SEAL_HOOKS).map((h) => h.hook);
  if (hasBtf) {
    const btf = KernelBtf.load();
    try {
      native = NATIVE.requires.every((f) => btf.hasFunction(f));
      const missing = MAINLINE.requires.filter((f) => !btf.hasFunction(f));
      mainline = missing.length === 0;
      add(
        native
          ? { id: "native-hook", state: "ok", summary: "kernel has the cgroup_attach LSM hook (bpf_lsm_cgroup_attach)" }
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
          ? { id: "seal-hooks", state: "ok", summary: "LSM hooks for 'cgwarden seal' present (bpf, bpf_map, bpf_prog, inode_unlink, inode_rmdir, inode_rename, sb_umount, ptrace_access_check)" }
          : { id: "seal-hooks", state: "warn", summary: `'cgwarden seal' is refused here: the kernel lacks ${sealMissing.join(", ")}` },
      );
    } finally {
      btf.free();
    }
  }

  const blocking = items.find((i) => i.state === "fail" && i.id !== "mainline-hooks");
  if (blocking) return { items, mechanism: null, sealMissing, reason: blocking.summary, fix: blocking.fix };
  if (!cg2 || !bpfLsm || !loadable) return { items, mechanism: null, sealMissing, reason: "kernel cannot run cgwarden's programs" };
  if (native) return { items, mechanism: NATIVE, sealMissing };
  if (mainline) return { items, mechanism: MAINLINE, sealMissing };
  return { items, mechanism: null, sealMissing, reason: "neither the cgroup_attach hook nor the mainline attach points exist" };
}

/** Loads one probe program alone; null on success, the error otherwise. */
async function probeLoad(name: string): Promise<Error | null> {
  const obj = BpfObject.openMem(await objectBytes(), "cgwarden_probe");
  try {
    for (const p of obj.programs()) p.setAutoload(p.name === name);
    obj.load();
    return null;
  } catch (e) {
    return e as Error;
  } finally {
    obj.close();
  }
}
