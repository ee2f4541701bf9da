// Where cgwarden's pinned state lives in bpffs.
import { join } from "node:path";

export const DEFAULT_PIN_DIR = "/sys/fs/bpf/cgwarden";

export function resolvePinDir(flag?: string): string {
  return flag || process.env.CGWARDEN_PIN_DIR || DEFAULT_PIN_DIR;
}

export const pinPaths = (dir: string) => ({
  dir,
  mapsDir: join(dir, "maps"),
  linksDir: join(dir, "links"),
  progsDir: join(dir, "progs"),
  map: (name: string) => join(dir, "maps", name),
  link: (program: string) => join(dir, "links", program),
  prog: (program: string) => join(dir, "progs", program),
});
