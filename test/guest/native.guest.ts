// The native hook itself, apart from cgwarden: the intent of the seed
// series' selftests. A program on lsm/cgroup_attach denies a migration, and
// the arguments of each call are held to what the kernel did: a write to
// cgroup.procs, to cgroup.threads, and clone3(CLONE_INTO_CGROUP). cgwarden's
// native mechanism (bpf/native.bpf.h) relies on exactly these meanings.
// On kernels without the hook, the hook's BTF is absent and nothing attaches.
import { afterAll, describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { BpfObject, KernelBtf, MapFd, type Link } from "../../cli/libbpf/index.ts";
import { findNativeHook } from "../../cli/object/mechanism.ts";
import { u32Key } from "../../cli/object/struct.ts";
import { CGROOT, EPERM, KERNEL, Mover, ROOT, cgroupId, cleanup, mkcg, place } from "./harness.ts";

afterAll(cleanup);

const hasHook = KERNEL === "hook-6.12";
const FIXTURE = join(ROOT, "dist/test/hook-conformance.bpf.o");

interface HookCall {
  calls: bigint;
  src: bigint;
  dst: bigint;
  sbMagic: bigint;
  taskPid: number;
  taskTgid: number;
  taskNew: number;
  threadgroup: number;
  actorTgid: number;
  hasNs: number;
}

describe(`native hook conformance on ${KERNEL}`, () => {
  test(hasHook ? "the kernel's BTF has the seed's signature" : "the kernel has no cgroup_attach hook, so the native mechanism is not used", () => {
    const btf = KernelBtf.load();
    try {
      expect(findNativeHook(btf)).toEqual(hasHook ? { state: "present" } : { state: "absent" });
    } finally {
      btf.free();
    }
  });

  if (!hasHook) return;

  let obj: BpfObject;
  let link: Link;
  let lastCall: MapFd;
  let denyDst: MapFd;
  const readCall = (): HookCall => {
    const v = lastCall.lookup(u32Key(0), 56)!;
    return {
      calls: v.readBigUInt64LE(0), src: v.readBigUInt64LE(8), dst: v.readBigUInt64LE(16), sbMagic: v.readBigUInt64LE(24),
      taskPid: v.readUInt32LE(32), taskTgid: v.readUInt32LE(36), taskNew: v.readUInt32LE(40), threadgroup: v.readUInt32LE(44),
      actorTgid: v.readUInt32LE(48), hasNs: v.readUInt32LE(52),
    };
  };
  const deny = (path: string | null) => {
    const v = Buffer.alloc(8);
    v.writeBigUInt64LE(path ? cgroupId(path) : 0n);
    denyDst.update(u32Key(0), v);
  };

  test("a program on lsm/cgroup_attach loads and attaches", async () => {
    obj = BpfObject.openMem(new Uint8Array(readFileSync(FIXTURE)), "conformance");
    obj.load();
    link = obj.program("conformance").attach();
    lastCall = MapFd.borrow(obj.map("last_call").fd, "last_call");
    denyDst = MapFd.borrow(obj.map("deny_dst").fd, "deny_dst");
    mkcg("conf/a", "conf/b", "conf/dom/t1", "conf/dom/t2");
  });

  test("a write to cgroup.procs is denied with the hook's errno, and its arguments are the move's", async () => {
    const actor = await Mover.start({ cgroup: "conf/a" });
    const victim = await Mover.start({ cgroup: "conf/a" });
    deny("conf/b");
    expect(await actor.moveProcs(victim.pid, "conf/b")).toBe(EPERM);
    expect(readCall()).toMatchObject({
      src: cgroupId("conf/a"), dst: cgroupId("conf/b"), sbMagic: 0x63677270n,
      taskPid: victim.pid, taskTgid: victim.pid, taskNew: 0, threadgroup: 1, actorTgid: actor.pid, hasNs: 1,
    });
    expect(readFileSync(`/proc/${victim.pid}/cgroup`, "utf8")).toContain("0::/conf/a\n");
    // Allowed once the program no longer denies: the same call, now carried out.
    deny(null);
    const before = readCall().calls;
    expect(await actor.moveProcs(victim.pid, "conf/b")).toBe(0);
    expect(readCall().calls).toBe(before + 1n);
    expect(readFileSync(`/proc/${victim.pid}/cgroup`, "utf8")).toContain("0::/conf/b\n");
  });

  test("a write to cgroup.threads passes the thread, with threadgroup false", async () => {
    writeFileSync(join(CGROOT, "conf/dom/t1/cgroup.type"), "threaded");
    writeFileSync(join(CGROOT, "conf/dom/t2/cgroup.type"), "threaded");
    const actor = await Mover.start({ cgroup: "conf/a" });
    const owner = await Mover.start();
    place(owner.pid, "conf/dom/t1");
    const [tid] = await owner.spawnThreads(1);
    deny("conf/dom/t2");
    expect(await actor.moveThread(tid!, "conf/dom/t2")).toBe(EPERM);
    expect(readCall()).toMatchObject({
      src: cgroupId("conf/dom/t1"), dst: cgroupId("conf/dom/t2"), taskPid: tid, taskTgid: owner.pid, taskNew: 0, threadgroup: 0, actorTgid: actor.pid,
    });
    deny(null);
    expect(await actor.moveThread(tid!, "conf/dom/t2")).toBe(0);
  });

  test("clone3(CLONE_INTO_CGROUP) is decided for the new child, before it runs", async () => {
    const parent = await Mover.start({ cgroup: "conf/a" });
    deny("conf/b");
    expect(await parent.cloneInto("conf/b")).toBe(EPERM);
    const call = readCall();
    expect(call).toMatchObject({ src: cgroupId("conf/a"), dst: cgroupId("conf/b"), taskNew: 1, threadgroup: 1, actorTgid: parent.pid });
    expect(call.taskPid).not.toBe(parent.pid);
    deny(null);
    expect(await parent.cloneInto("conf/b")).toBe(0);
  });

  test("detaching the program ends its denials", async () => {
    deny("conf/b");
    link.destroy();
    obj.close();
    const actor = await Mover.start({ cgroup: "conf/a" });
    expect(await actor.moveProcs(actor.pid, "conf/b")).toBe(0);
  });
});
