// Sealing the pinned state: after it, only managers may change cgwarden's
// BPF state (bpf/seal*.bpf.h). The order makes every step
// safe to interrupt: the seal's programs are attached (refusing nothing
// while seal.sealed is 0), `protected` is filled, and only then is the seal
// switched on, in one element write. Unsealing switches it off first.
import { existsSync, rmSync, statSync } from "node:fs";
import { CliError, UsageError } from "../errors.ts";
import { provenIdentity } from "../kernel/inode.ts";
import { dropSealKey, installSealKey } from "../kernel/keyring.ts";
import { KernelBtf, attachProgramFd, closeFd, linkInfo, openPinned, pinFd, programMapIds, waitDetached } from "../libbpf/index.ts";
import { ProtectedKeyLayout, ProtectedKind, SealLayout, encodeSeal, type ManagerValue } from "../object/abi.ts";
import { PINNED_MAPS, PRESENTED_WHEN_SEALED, READABLE_WHEN_SEALED } from "../object/maps.ts";
import { attachLabel, SEAL_HOOKS, SEAL_PROGRAMS, SEAL_REQUIRES } from "../object/mechanism.ts";
import { u32Key } from "../object/struct.ts";
import { sameSeal, sealProblem, type SealSpec } from "../policy/spec.ts";
import { pinPaths } from "./paths.ts";
import type { PinnedState, SealState } from "./state.ts";

export interface SealChange {
  changed: boolean;
  seal: SealState;
}

/** The seal in force as a spec: what `export` writes and `apply` compares. */
export function sealSpecOf(seal: SealState): SealSpec | null {
  if (!seal.sealed) return null;
  return {
    untilReboot: seal.untilReboot,
    lockBpf: seal.lockBpf,
    ...(seal.key ? { key: { path: seal.key.path, der: Buffer.alloc(0), sha256: seal.key.sha256, subject: seal.key.subject } } : {}),
    managers: seal.managers.map((m) => ({
      exe: { path: m.exe, dev: m.exe_dev, ino: m.exe_ino, ...(m.pid ? {} : { gen: m.exe_gen }) },
      ...(m.pid ? { pid: { tgid: m.pid, startTicks: m.start_ticks } } : {}),
    })),
  };
}

/**
 * Makes the seal equal `desired` (null: unsealed). `state` was opened for
 * writing, so this process is allowed to (the policy is unsealed, or it is
 * a manager). `cli` is what this process runs: a manager's child that
 * executes it is a manager too.
 */
export async function applySeal(state: PinnedState, desired: SealSpec | null, cli: CliIdentity): Promise<SealChange> {
  const current = state.seal();
  if (sameSeal(sealSpecOf(current), desired)) return { changed: false, seal: current };
  if (current.sealed && current.untilReboot)
    throw new CliError({ problem: `the policy at ${state.pinDir} is sealed until reboot`, fix: `nothing can change it before the next boot` });
  if (desired === null) {
    await unseal(state);
    if (current.key) dropSealKey(current.key.ring);
    return { changed: true, seal: state.seal() };
  }
  validate(desired);
  requireSealHooks(state.pinDir);
  attachSealPrograms(state.pinDir);
  writeProtected(state);
  const sealedNs = BigInt(Date.now()) * 1_000_000n;
  const key = desired.key ? installSealKey(desired.key, String(sealedNs)) : null;
  const managers: ManagerValue[] = desired.managers.map((m) => ({
    exe_dev: m.exe.dev,
    exe_ino: m.exe.ino,
    start_ticks: m.pid?.startTicks ?? 0n,
    pid: m.pid?.tgid ?? 0,
    exe_gen: m.pid ? 0 : (m.exe.gen ?? 0),
    exe: m.exe.path,
  }));
  const seal = {
    sealed: 1,
    until_reboot: desired.untilReboot ? 1 : 0,
    lock_bpf: desired.lockBpf ? 1 : 0,
    manager_count: managers.length,
    cli_dev: cli.dev,
    cli_ino: cli.ino,
    cli_gen: cli.gen,
    sealed_ns: sealedNs,
    key_ring: key?.ring ?? 0,
    key_cert: key?.cert ?? 0,
    board_map: key ? state.maps.challenge_board.info().id : 0,
    authorizations_map: key ? state.maps.authorizations.info().id : 0,
    key_sha256: desired.key ? Buffer.from(desired.key.sha256, "hex") : Buffer.alloc(32),
    key_subject: Buffer.from(desired.key?.subject ?? "").subarray(0, 200).toString(),
    key_path: desired.key?.path ?? "",
  };
  try {
    state.maps.seal.update(u32Key(0), encodeSeal(seal, managers));
  } catch (e) {
    if (key) dropSealKey(key.ring);
    throw e;
  }
  // The keyring a replaced key seal named: nothing trusts it any more.
  if (current.key && current.key.ring !== key?.ring) dropSealKey(current.key.ring);
  return { changed: true, seal: state.seal() };
}

/** The cgwarden binary a manager's child executes to act as a manager. */
export interface CliIdentity {
  dev: bigint;
  ino: bigint;
  gen: number;
}

/**
 * The identity applySeal() records for `binary` (this process's own by
 * default): taken before anything changes, since a binary whose generation
 * cannot be read is refused (see cli/kernel/inode.ts). A seal with no
 * managers has nobody to act through it.
 */
export function cliIdentity(desired: SealSpec | null, binary = "/proc/self/exe"): CliIdentity {
  if (!desired?.managers.length) return { dev: 0n, ino: 0n, gen: 0 };
  const { dev, ino, gen } = provenIdentity(binary, `the cgwarden binary ${binary === "/proc/self/exe" ? process.execPath : binary}`);
  return { dev, ino, gen };
}

function validate(s: SealSpec): void {
  const problem = sealProblem(s);
  if (problem) throw new UsageError(problem);
}

/** A seal that cannot be whole on this kernel is refused, never half done. */
function requireSealHooks(pinDir: string): void {
  const btf = KernelBtf.load();
  let missing: string[];
  try {
    missing = SEAL_REQUIRES.filter((f) => !btf.hasFunction(f));
  } finally {
    btf.free();
  }
  if (missing.length) throw new CliError({ problem: `cannot seal on this kernel: it lacks ${missing.join(", ")}`, fix: `nothing was changed (see 'cgwarden check')` });
  const p = pinPaths(pinDir);
  const absent = SEAL_PROGRAMS.filter((name) => !existsSync(p.prog(name)));
  if (absent.length)
    throw new CliError({ problem: `cannot seal: the seal's programs are not pinned in ${p.progsDir} (missing ${absent.join(", ")})`, fix: `this cgwarden was loaded without them, so unload and load again` });
}

function attachSealPrograms(pinDir: string): void {
  const p = pinPaths(pinDir);
  for (const name of SEAL_PROGRAMS) {
    if (existsSync(p.link(name))) continue;
    const prog = openPinned(p.prog(name));
    if (prog === null) throw new CliError(`program ${name} vanished from ${p.progsDir}`);
    try {
      const link = attachProgramFd(prog, `${name} to ${attachLabel(SEAL_HOOKS[name]!.hook)}`);
      try {
        pinFd(link, p.link(name));
      } finally {
        closeFd(link);
      }
    } finally {
      closeFd(prog);
    }
  }
}

/** Everything of cgwarden's the seal covers, as `protected` keys: all maps, programs, links, pin directories and the bpffs. */
function protectedKeys(state: PinnedState): Buffer[] {
  const keys: Buffer[] = [];
  const add = (kind: number, a: bigint, b = 0n) => keys.push(ProtectedKeyLayout.encode({ kind, a, b }));
  const pinnedMapIds = new Set<number>();
  for (const name of PINNED_MAPS) {
    const id = state.maps[name].info().id;
    pinnedMapIds.add(id);
    add(name === PRESENTED_WHEN_SEALED ? ProtectedKind.mapPresented : READABLE_WHEN_SEALED.has(name) ? ProtectedKind.mapReadable : ProtectedKind.map, BigInt(id));
  }
  const p = pinPaths(state.pinDir);
  const progIds = new Set<number>();
  for (const name of [...state.mechanism.programs, ...SEAL_PROGRAMS]) {
    const fd = openPinned(p.link(name));
    if (fd === null) continue;
    try {
      const info = linkInfo(fd);
      add(ProtectedKind.link, BigInt(info.linkId));
      progIds.add(info.progId);
    } finally {
      closeFd(fd);
    }
  }
  for (const id of progIds) {
    add(ProtectedKind.prog, BigInt(id));
    // Maps no pin names (.bss, per-CPU scratch, the mainline's per-task state): nobody opens those.
    for (const mapId of programMapIds(id)) {
      if (pinnedMapIds.has(mapId)) continue;
      pinnedMapIds.add(mapId);
      add(ProtectedKind.map, BigInt(mapId));
    }
  }
  for (const dir of [p.dir, p.mapsDir, p.linksDir, p.progsDir]) {
    const st = statSync(dir, { bigint: true });
    add(ProtectedKind.dir, st.dev, st.ino);
  }
  add(ProtectedKind.fs, statSync(p.dir, { bigint: true }).dev);
  return keys;
}

function writeProtected(state: PinnedState): void {
  const keys = protectedKeys(state);
  const want = new Set(keys.map((k) => k.toString("hex")));
  const stale = state.maps.protected.readAll(ProtectedKeyLayout.size, 4).map(([k]) => k).filter((k) => !want.has(k.toString("hex")));
  state.maps.protected.deleteMany(stale);
  state.maps.protected.updateMany(keys.map((k) => [k, u32Key(1)]));
}

/** Switches the seal off, then detaches its programs: what was sealed is now open to root again. */
async function unseal(state: PinnedState): Promise<void> {
  state.maps.seal.update(u32Key(0), Buffer.alloc(SealLayout.size));
  const p = pinPaths(state.pinDir);
  const links: number[] = [];
  for (const name of SEAL_PROGRAMS) {
    const fd = openPinned(p.link(name));
    if (fd === null) continue;
    try {
      links.push(linkInfo(fd).linkId);
    } finally {
      closeFd(fd);
    }
    rmSync(p.link(name));
  }
  // The programs stay pinned under progs/, so only the links can be waited for.
  await waitDetached(links.map((linkId) => ({ linkId, progId: 0 })));
  state.maps.protected.deleteMany(state.maps.protected.readAll(ProtectedKeyLayout.size, 4).map(([k]) => k));
}
