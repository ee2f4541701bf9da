// Opening and validating the pinned state that `load` left behind.
import { existsSync, readdirSync } from "node:fs";
import { MapFd } from "../libbpf/index.ts";
import { CliError } from "../errors.ts";
import { mechanismByCode, type Mechanism } from "../mechanism.ts";
import {
  ABI_VERSION,
  GateKeyLayout,
  GateLayout,
  LockLayout,
  RecordLayout,
  RuleLayout,
  SelectorKeyLayout,
  SettingsLayout,
  type SettingsValue,
} from "../policy/abi.ts";
import { PINNED_MAPS, pinPaths, type PinnedMapName } from "./paths.ts";

const HASH = 1;
const ARRAY = 2;
const PERCPU_ARRAY = 6;
const RINGBUF = 27;

/** The shape each pinned map must have; anything else is not ours or is from another ABI. */
export const MAP_SHAPES: Record<PinnedMapName, { type: number; keySize: number; valueSize: number }> = {
  settings: { type: ARRAY, keySize: 4, valueSize: SettingsLayout.size },
  locks: { type: HASH, keySize: 8, valueSize: LockLayout.size },
  gates: { type: HASH, keySize: GateKeyLayout.size, valueSize: GateLayout.size },
  selectors: { type: HASH, keySize: SelectorKeyLayout.size, valueSize: 8 },
  rules: { type: HASH, keySize: 4, valueSize: RuleLayout.size },
  stats: { type: PERCPU_ARRAY, keySize: 4, valueSize: 8 },
  recorder: { type: ARRAY, keySize: 4, valueSize: RecordLayout.size },
  recorder_head: { type: ARRAY, keySize: 4, valueSize: 8 },
  events: { type: RINGBUF, keySize: 0, valueSize: 0 },
};

export interface PinnedState {
  pinDir: string;
  maps: Record<PinnedMapName, MapFd>;
  mechanism: Mechanism;
  settings(): SettingsValue;
  writeSettings(s: SettingsValue): void;
  /** Program names whose links are pinned. */
  pinnedLinks(): string[];
  close(): void;
}

const ZERO_KEY = Buffer.alloc(4);

function corrupt(pinDir: string, what: string): CliError {
  return new CliError(
    `pinned state at ${pinDir} is damaged (${what}); inspect it with 'cgwarden status', then remove it with 'cgwarden unload' and load again (unload drops the policy)`,
  );
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
    }
    const raw = maps.settings.lookup(ZERO_KEY, SettingsLayout.size);
    const settings = raw ? SettingsLayout.decode(raw) : null;
    if (!settings || settings.abi !== ABI_VERSION)
      throw corrupt(pinDir, `settings ABI ${settings?.abi ?? "unreadable"}, this cgwarden speaks ABI ${ABI_VERSION}`);
    const mechanism = mechanismByCode(settings.mechanism);
    if (!mechanism) throw corrupt(pinDir, `unknown mechanism ${settings.mechanism}`);
    const missing = mechanism.programs.filter((prog) => !links.includes(prog));
    if (missing.length) throw corrupt(pinDir, `links missing for ${missing.join(", ")}`);

    return {
      pinDir,
      maps,
      mechanism,
      settings: () => SettingsLayout.decode(maps.settings.lookup(ZERO_KEY, SettingsLayout.size) ?? Buffer.alloc(SettingsLayout.size)),
      writeSettings: (s) => maps.settings.update(ZERO_KEY, SettingsLayout.encode(s)),
      pinnedLinks: () => (existsSync(p.linksDir) ? readdirSync(p.linksDir) : []),
      close: () => opened.forEach((m) => m.close()),
    };
  } catch (e) {
    opened.forEach((m) => m.close());
    throw e;
  }
}
