// Load the embedded object, attach one mechanism's programs and pin it all,
// all or nothing.
import { mkdirSync, rmSync, existsSync } from "node:fs";
import { MapFd, pinFd, type Link } from "../libbpf/index.ts";
import { CliError, UsageError } from "../errors.ts";
import { objectSha256 } from "../object/embedded.ts";
import { SEAL_PROGRAMS, type Mechanism } from "../object/mechanism.ts";
import { capacityProblem, DEFAULT_CAPACITIES, openConfigured, type Capacities } from "../object/configure.ts";
import { ABI_VERSION, SettingsLayout } from "../object/abi.ts";
import { VERSION } from "../version.ts";
import { assessKernel, loadFix } from "../kernel/readiness.ts";
import { PINNED_MAPS } from "../object/maps.ts";
import { u32Key } from "../object/struct.ts";
import { pinPaths } from "./paths.ts";
import { openState } from "./state.ts";

export interface LoadResult {
  alreadyLoaded: boolean;
  mechanism: Mechanism;
  pinDir: string;
}

/** Caller holds the writer lock. */
export async function loadWarden(pinDir: string, caps: Capacities = DEFAULT_CAPACITIES): Promise<LoadResult> {
  const existing = openState(pinDir);
  if (existing) {
    existing.close();
    return { alreadyLoaded: true, mechanism: existing.mechanism, pinDir };
  }

  // The load below verifies every program itself, and its error names the one refused.
  const readiness = await assessKernel({ verify: false });
  const mechanism = readiness.mechanism;
  if (!mechanism) {
    const problem = `cannot enforce on this kernel: ${readiness.reason}`;
    throw new CliError(readiness.fix ? { problem, fix: `${readiness.fix} (see 'cgwarden check')` } : `${problem} (see 'cgwarden check')`);
  }
  const problem = capacityProblem(caps);
  if (problem) throw new UsageError(problem);

  // The seal's programs are verified now, with the rest, but attached only by `cgwarden seal`.
  const withSeal = readiness.sealMissing.length === 0;
  const sealPrograms = withSeal ? SEAL_PROGRAMS : [];
  const obj = await openConfigured(mechanism, withSeal, caps);
  const links: Link[] = [];
  const paths = pinPaths(pinDir);
  const createdDir = !existsSync(pinDir);
  try {
    try {
      obj.load();
    } catch (e) {
      throw new CliError({ problem: `cannot enforce on this kernel: the kernel refuses cgwarden's object: ${(e as Error).message}`, fix: `${loadFix(e as Error)} (see 'cgwarden check')` });
    }

    const settings = MapFd.borrow(obj.map("settings").fd, "settings");
    settings.update(
      u32Key(0),
      SettingsLayout.encode({
        abi: ABI_VERSION,
        mechanism: mechanism.code,
        global_mode: 0,
        record_all: 0,
        next_rule_id: 1,
        recorder_slots: caps.records,
        generation: 0n,
        version: VERSION,
        object_sha256: await objectSha256(),
        epoch: 0,
        stale: 0,
        applied_ns: 0n,
        applied_origin: "",
        applied_by: "",
        applied_file: "",
        applied_sha256: "",
      }),
    );

    for (const name of mechanism.programs) {
      const prog = obj.program(name);
      try {
        links.push(prog.attach());
      } catch (e) {
        throw new CliError({ problem: `cannot attach ${name} to ${prog.section}: ${(e as Error).message}`, fix: `nothing was left attached` });
      }
    }

    mkdirSync(paths.mapsDir, { recursive: true });
    mkdirSync(paths.linksDir, { recursive: true });
    mkdirSync(paths.progsDir, { recursive: true });
    for (const name of PINNED_MAPS) MapFd.borrow(obj.map(name).fd, name).pin(paths.map(name));
    for (const name of sealPrograms) pinFd(obj.program(name).fd, paths.prog(name));
    mechanism.programs.forEach((name, i) => links[i]!.pin(paths.link(name)));
    return { alreadyLoaded: false, mechanism, pinDir };
  } catch (e) {
    // Unpinning first means destroying our link handles below really detaches.
    if (existsSync(paths.mapsDir)) rmSync(paths.mapsDir, { recursive: true, force: true });
    if (existsSync(paths.linksDir)) rmSync(paths.linksDir, { recursive: true, force: true });
    if (existsSync(paths.progsDir)) rmSync(paths.progsDir, { recursive: true, force: true });
    if (createdDir && existsSync(pinDir)) rmSync(pinDir, { recursive: true, force: true });
    throw e;
  } finally {
    links.forEach((l) => l.destroy());
    obj.close();
  }
}

