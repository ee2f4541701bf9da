// The embedded object as `load` loads it: which programs are verified and
// how large the maps are. `check` verifies exactly this configuration, so
// its answer is the answer `load` will get.
import { BpfObject } from "../libbpf/index.ts";
import { objectBytes } from "./embedded.ts";
import { SEAL_PROGRAMS, type Mechanism } from "./mechanism.ts";

export interface Capacities {
  /** Locks, one per cgroup. */
  locks: number;
  /** Allow and delegate rules together. */
  gateRules: number;
  /** Decision records the flight recorder keeps. */
  records: number;
}

export const DEFAULT_CAPACITIES: Capacities = { locks: 4096, gateRules: 16384, records: 4096 };

/** The most of anything one map holds; `load` checks its flags against it before anything else. */
export const MAX_CAPACITY = 1 << 20;

/** Capacities out of range, as one line; null when all are fine. */
export function capacityProblem(caps: Capacities): string | null {
  for (const [name, n] of Object.entries(caps)) {
    if (!Number.isInteger(n) || n < 1 || n > MAX_CAPACITY)
      return `capacity ${name}=${n} is out of range; use a whole number from 1 to ${MAX_CAPACITY}`;
  }
  return null;
}

/**
 * Opens the embedded object with this mechanism's programs to load, and the
 * seal's where the kernel has their hooks (verified at load, attached only
 * by `cgwarden seal`). Nothing is loaded yet; the caller loads and closes.
 */
export async function openConfigured(mechanism: Mechanism, withSeal: boolean, caps: Capacities, name = "cgwarden"): Promise<BpfObject> {
  const obj = BpfObject.openMem(await objectBytes(), name);
  try {
    for (const p of obj.programs()) p.setAutoload(mechanism.programs.includes(p.name) || (withSeal && SEAL_PROGRAMS.includes(p.name)));
    // Every policy map holds two epochs while a change swaps one for the other (pins/store.ts).
    const rules = caps.locks + caps.gateRules;
    obj.map("locks").setMaxEntries(2 * caps.locks);
    obj.map("gates").setMaxEntries(2 * caps.gateRules);
    obj.map("selectors").setMaxEntries(2 * caps.gateRules * 4);
    obj.map("rules").setMaxEntries(2 * rules);
    obj.map("paths").setMaxEntries(2 * 2 * rules);
    obj.map("node_stats").setMaxEntries(2 * 2 * rules);
    obj.map("bound").setMaxEntries(2 * Math.max(65536, 2 * rules));
    obj.map("recorder").setMaxEntries(caps.records);
    return obj;
  } catch (e) {
    obj.close();
    throw e;
  }
}
