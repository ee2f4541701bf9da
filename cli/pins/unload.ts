// Remove every pin: the deciding programs go first, so enforcement ends
// before the facts it relies on stop being gathered.
import { existsSync, readdirSync, rmSync } from "node:fs";
import { MECHANISMS } from "../mechanism.ts";
import { pinPaths } from "./paths.ts";

export interface UnloadResult {
  wasLoaded: boolean;
  removed: string[];
}

/** Works on damaged state too: it is the documented way out of it. Caller holds the writer lock. */
export function unloadWarden(pinDir: string): UnloadResult {
  const p = pinPaths(pinDir);
  if (!existsSync(pinDir)) return { wasLoaded: false, removed: [] };
  const removed: string[] = [];
  const links = existsSync(p.linksDir) ? readdirSync(p.linksDir) : [];
  for (const name of detachOrder(links)) {
    rmSync(p.link(name));
    removed.push(`links/${name}`);
  }
  const maps = existsSync(p.mapsDir) ? readdirSync(p.mapsDir) : [];
  for (const name of maps) {
    rmSync(p.map(name));
    removed.push(`maps/${name}`);
  }
  for (const dir of [p.linksDir, p.mapsDir, pinDir]) if (existsSync(dir)) rmSync(dir, { recursive: true, force: true });
  return { wasLoaded: removed.length > 0, removed };
}

function detachOrder(links: string[]): string[] {
  const known = MECHANISMS.flatMap((m) => [...m.programs].reverse());
  return [...links].sort((a, b) => rank(known, a) - rank(known, b));
}

function rank(order: string[], name: string): number {
  const i = order.indexOf(name);
  return i < 0 ? order.length : i;
}
