// Where cgwarden's pinned state lives in bpffs.
import { join } from "node:path";

export const DEFAULT_PIN_DIR = "/sys/fs/bpf/cgwarden";

export function resolvePinDir(flag?: string): string {
  return flag || process.env.CGWARDEN_PIN_DIR || DEFAULT_PIN_DIR;
}

/** Maps pinned by name; together they are the whole policy and its bookkeeping. */
export const PINNED_MAPS = ["settings", "locks", "gates", "selectors", "rules", "stats", "recorder", "recorder_head", "events", "executed"] as const;
export type PinnedMapName = (typeof PINNED_MAPS)[number];

export const pinPaths = (dir: string) => ({
  dir,
  mapsDir: join(dir, "maps"),
  linksDir: join(dir, "links"),
  map: (name: string) => join(dir, "maps", name),
  link: (program: string) => join(dir, "links", program),
});
