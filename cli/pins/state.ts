// Opening and validating the pinned state that `load` left behind.
import { existsSync, readdirSync } from "node:fs";
import { BpfError, Errno, MapFd, closeFd, linkInfo, openPinned, pidfdOpen, programMapIds } from "../libbpf/index.ts";
import { CliError } from "../errors.ts";
import { mechanismByCode, type Mechanism } from "../object/mechanism.ts";
import { ABI_VERSION, ExeIdentityLayout, SealLayout, SettingsLayout, decodeSeal, type ManagerValue, type SettingsValue } from "../object/abi.ts";
import { MAP_SHAPES, PINNED_MAPS, READABLE_WHEN_SEALED, type PinnedMapName } from "../object/maps.ts";
import { i32Key, u32Key } from "../object/struct.ts";
import { pinPaths } from "./paths.ts";

/**
 * read: read-only fds, all anyone gets on a sealed policy (and maps only
 * managers may open are opened on first use). write: writable fds, which a
 * sealed policy gives its managers only.
 */
export type Access = "read" | "write";

export interface SealState {
  sealed: boolean;
  untilReboot: boolean;
  lockBpf: boolean;
  managers: ManagerValue[];
  cli: { dev: bigint; ino: bigint; gen: number };
  sealedAt: Date | null;
  /** A key seal: its certificate, and the serials the kernel holds it under. */
  key: SealKeyState | null;
}

export interface SealKeyState {
  ring: number;
  cert: number;
  sha256: string;
  subject: string;
  path: string;
}

export interface PinnedState {
  pinDir: string;
  access: Access;
  maps: Record<PinnedMapName, MapFd>;
  /** Maps this reader left unopened because the policy is sealed: opening them needs a manager. */
  hidden: ReadonlySet<PinnedMapName>;
  mechanism: Mechanism;
  seal(): SealState;
  settings(): SettingsValue;
  writeSettings(s: SettingsValue): void;
  /**
   * What process `pid` really executed, as the kernel judges --exe; null when
   * nothing was recorded for it (it predates cgwarden and never used
   * PR_SET_MM: then its /proc/PID/exe is what counts) or it has exited.
   */
  executedBy(pid: number): { dev: bigint; ino: bigint } | null;
  /** Program names whose links are pinned. */
  pinnedLinks(): string[];
  close(): void;
}

const ZERO_KEY = u32Key(0);

export function decodeSealState(raw: Uint8Array | null): SealState {
  const { seal, managers } = decodeSeal(raw ?? Buffer.alloc(SealLayout.size));
  return {
    sealed: seal.sealed !== 0,
    untilReboot: seal.until_reboot !== 0,
    lockBpf: seal.lock_bpf !== 0,
    managers,
    cli: { dev: seal.cli_dev, ino: seal.cli_ino, gen: seal.cli_gen },
    sealedAt: seal.sealed_ns ? new Date(Number(seal.sealed_ns / 1_000_000n)) : null,
    key: seal.key_ring
      ? {
          ring: seal.key_ring,
          cert: seal.key_cert,
          sha256: seal.key_sha256.toString("hex"),
          subject: seal.key_subject,
          path: seal.key_path,
        }
      : null,
  };
}

export function describeManagers(seal: SealState): string {
  if (seal.key) return `any process the seal's key authorizes (${seal.key.subject}, sha256 ${seal.key.sha256.slice(0, 16)}...)`;
  if (seal.untilReboot || seal.managers.length === 0) return "none: sealed until reboot";
  return seal.managers.map((m) => (m.pid ? `${m.exe} (pid ${m.pid})` : m.exe)).join(", ");
}

/** The one error for anything a sealed policy refuses to a process that is not one of its managers. */
export function sealedError(pinDir: string, seal: SealState, what: string): CliError {
  if (seal.key)
    return new CliError({ problem: `the policy at ${pinDir} is sealed with a key, so only a process it authorizes may ${what} (${seal.key.subject})`, fix: `give --authorize-with 'COMMAND' (it signs the challenge on its standard input) or --authorization - (see 'cgwarden seal --help')` });
  return seal.untilReboot || seal.managers.length === 0
    ? new CliError({ problem: `the policy at ${pinDir} is sealed until reboot, so nothing may ${what}`, fix: `it lifts at the next boot (see 'cgwarden status')` })
    : new CliError({ problem: `the policy at ${pinDir} is sealed, so only its managers may ${what} (managers: ${describeManagers(seal)})`, fix: `run this from a manager, or reboot (see 'cgwarden status')` });
}

/** A map opened on first use; a refusal by the seal becomes sealedError. */
function openedOnUse(path: string, denied: () => CliError): MapFd {
  let real: MapFd | null = null;
  const open = (): MapFd => {
    if (real) return real;
    try {
      real = MapFd.openPinned(path, true);
    } catch (e) {
      if (e instanceof BpfError && e.errno === Errno.EPERM) throw denied();
      throw e;
    }
    if (!real) throw new CliError(`map ${path} is missing`);
    return real;
  };
  return new Proxy({} as MapFd, {
    get(_, prop) {
      if (prop === "close") return () => real?.close();
      const m = open();
      const v = (m as unknown as Record<string | symbol, unknown>)[prop];
      return typeof v === "function" ? v.bind(m) : v;
    },
  });
}

function corrupt(pinDir: string, what: string): CliError {
  return new CliError(
    `pinned state at ${pinDir} is damaged (${what}); inspect it with 'cgwarden status', then remove it with 'cgwarden unload' and load again (unload drops the policy)`,
  );
}

/**
 * A pinned map is only policy if the attached programs read it: root can
 * replace a pin with a look-alike map, and writing there would change
 * nothing the kernel enforces while reporting success.
 */
function requireMapsInUse(pinDir: string, mechanism: Mechanism, mapIds: Record<PinnedMapName, number>): void {
  const inUse = new Set<number>();
  for (const prog of mechanism.programs) {
    const fd = openPinned(pinPaths(pinDir).link(prog));
    if (fd === null) throw corrupt(pinDir, `link ${prog} is missing`);
    try {
      for (const id of programMapIds(linkInfo(fd).progId)) inUse.add(id);
    } finally {
      closeFd(fd);
    }
  }
  for (const name of PINNED_MAPS) {
    const id = mapIds[name];
    if (id === undefined) continue; // left unopened: sealed, and the seal itself keeps it from being replaced
    if (!inUse.has(id))
      throw corrupt(pinDir, `pinned map ${name} (id ${id}) is not a map the attached programs use; something replaced it`);
  }
}

function executedBy(map: MapFd, pid: number): { dev: bigint; ino: bigint } | null {
  const pidfd = pidfdOpen(pid);
  if (pidfd === null) return null;
  try {
    const v = map.lookup(i32Key(pidfd), ExeIdentityLayout.size);
    if (!v) return null;
    const { dev, ino } = ExeIdentityLayout.decode(v);
    return { dev, ino };
  } finally {
    closeFd(pidfd);
  }
}

/** The seal as the pinned `seal` map holds it; null when there is no such map. */
export function readSeal(pinDir: string): SealState | null {
  const m = MapFd.openPinned(pinPaths(pinDir).map("seal"), true);
  if (!m) return null;
  try {
    return decodeSealState(m.lookup(ZERO_KEY, SealLayout.size));
  } finally {
    m.close();
  }
}

/** Opens the pinned state; null when cgwarden is not loaded there at all. */
export function openState(pinDir: string, access: Access = "read"): PinnedState | null {
  const p = pinPaths(pinDir);
  if (!existsSync(pinDir)) return null;
  const present = existsSync(p.mapsDir) ? readdirSync(p.mapsDir) : [];
  const links = existsSync(p.linksDir) ? readdirSync(p.linksDir) : [];
  if (present.length === 0 && links.length === 0) return null;

  // A shape mismatch here is reported below, as damage.
  let sealNow: SealState | null = null;
  try {
    sealNow = present.includes("seal") ? readSeal(pinDir) : null;
  } catch {
    sealNow = null;
  }
  const sealed = !!sealNow?.sealed;
  const maps = {} as Record<PinnedMapName, MapFd>;
  const opened: MapFd[] = [];
  const mapIds = {} as Record<PinnedMapName, number>;
  const hidden = new Set<PinnedMapName>();
  try {
    for (const name of PINNED_MAPS) {
      if (access === "read" && sealed && !READABLE_WHEN_SEALED.has(name) && existsSync(p.map(name))) {
        maps[name] = openedOnUse(p.map(name), () => sealedError(pinDir, sealNow!, `open maps/${name}`));
        opened.push(maps[name]);
        hidden.add(name);
        continue;
      }
      let m: MapFd | null;
      try {
        m = MapFd.openPinned(p.map(name), access === "read");
      } catch (e) {
        if (sealed && e instanceof BpfError && e.errno === Errno.EPERM) throw sealedError(pinDir, sealNow!, "change it");
        throw e;
      }
      if (!m) throw corrupt(pinDir, `map ${name} is missing`);
      opened.push(m);
      const info = m.info();
      const want = MAP_SHAPES[name];
      if (info.type !== want.type || info.keySize !== want.keySize || info.valueSize !== want.valueSize)
        throw corrupt(pinDir, `map ${name} has type ${info.type}, key ${info.keySize} B, value ${info.valueSize} B; expected ${want.type}, ${want.keySize} B, ${want.valueSize} B`);
      maps[name] = m;
      mapIds[name] = info.id;
    }
    const raw = maps.settings.lookup(ZERO_KEY, SettingsLayout.size);
    const settings = raw ? SettingsLayout.decode(raw) : null;
    if (!settings || settings.abi !== ABI_VERSION)
      throw corrupt(pinDir, `settings ABI ${settings?.abi ?? "unreadable"}, this cgwarden speaks ABI ${ABI_VERSION}`);
    const mechanism = mechanismByCode(settings.mechanism);
    if (!mechanism) throw corrupt(pinDir, `unknown mechanism ${settings.mechanism}`);
    const missing = mechanism.programs.filter((prog) => !links.includes(prog));
    if (missing.length) throw corrupt(pinDir, `links missing for ${missing.join(", ")}`);
    requireMapsInUse(pinDir, mechanism, mapIds);

    return {
      pinDir,
      access,
      maps,
      hidden,
      mechanism,
      seal: () => decodeSealState(maps.seal.lookup(ZERO_KEY, SealLayout.size)),
      settings: () => SettingsLayout.decode(maps.settings.lookup(ZERO_KEY, SettingsLayout.size) ?? Buffer.alloc(SettingsLayout.size)),
      writeSettings: (s) => maps.settings.update(ZERO_KEY, SettingsLayout.encode(s)),
      executedBy: (pid) => executedBy(maps.executed, pid),
      pinnedLinks: () => (existsSync(p.linksDir) ? readdirSync(p.linksDir) : []),
      close: () => opened.forEach((m) => m.close()),
    };
  } catch (e) {
    opened.forEach((m) => m.close());
    throw e;
  }
}
