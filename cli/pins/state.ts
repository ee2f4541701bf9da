// Opening and validating the pinned state that `load` left behind.
import { existsSync, readdirSync } from "node:fs";
import { MapFd, closeFd, linkInfo, openPinned, pidfdOpen, programMapIds } from "../libbpf/index.ts";
import { CliError } from "../errors.ts";
import { mechanismByCode, type Mechanism } from "../object/mechanism.ts";
import { ABI_VERSION, SettingsLayout, type SettingsValue } from "../object/abi.ts";
import { EXE_IDENTITY_SIZE, MAP_SHAPES, PINNED_MAPS, type PinnedMapName } from "../object/maps.ts";
import { i32Key, u32Key } from "../object/struct.ts";
import { pinPaths } from "./paths.ts";

export interface PinnedState {
  pinDir: string;
  maps: Record<PinnedMapName, MapFd>;
  mechanism: Mechanism;
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
    if (!inUse.has(id))
      throw corrupt(pinDir, `pinned map ${name} (id ${id}) is not a map the attached programs use; something replaced it`);
  }
}

function executedBy(map: MapFd, pid: number): { dev: bigint; ino: bigint } | null {
  const pidfd = pidfdOpen(pid);
  if (pidfd === null) return null;
  try {
    const v = map.lookup(i32Key(pidfd), EXE_IDENTITY_SIZE);
    return v ? { dev: v.readBigUInt64LE(0), ino: v.readBigUInt64LE(8) } : null;
  } finally {
    closeFd(pidfd);
  }
}

/** Opens the pinned state; null when cgwarden is not loaded there at all. */
export function openState(pinDir: string): PinnedState | null {
  const p = pinPaths(pinDir);
  if (!existsSync(pinDir)) return null;
  const present = existsSync(p.mapsDir) ? readdirSync(p.mapsDir) : [];
  const links = existsSync(p.linksDir) ? readdirSync(p.linksDir) : [];
  if (present.length === 0 && links.length === 0) return null;

  const maps = {} as Record<PinnedMapName, MapFd>;
  const opened: MapFd[] = [];
  const mapIds = {} as Record<PinnedMapName, number>;
  try {
    for (const name of PINNED_MAPS) {
      const m = MapFd.openPinned(p.map(name));
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
      maps,
      mechanism,
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
