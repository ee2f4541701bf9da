// Remove every pin: the deciding programs go first, so enforcement ends
// before the facts it relies on stop being gathered.
//
// unload is the documented way out of damaged state, so it must not stop
// half-way: it removes what it can, entry by entry, and only then reports
// what it could not remove. Inside maps/, links/ and progs/, entries cgwarden never
// pins (an admin's mkdir, a stray pin) are removed too: anything left there
// makes the next load see damaged state. Beside them, at the top of the pin
// directory, nothing is removed but maps/, links/ and progs/: that directory may be
// given as --pin-dir by mistake (even the bpffs root), so other entries are
// left alone and named.
import { lstatSync, readdirSync, rmSync, rmdirSync, statfsSync, type Stats } from "node:fs";
import { join } from "node:path";
import { CliError } from "../errors.ts";
import { BpfError, Errno, MapFd, closeFd, linkInfo, openPinned, waitDetached, type Attachment } from "../libbpf/index.ts";
import { SealLayout } from "../object/abi.ts";
import { u32Key } from "../object/struct.ts";
import { readSeal, sealedError, type SealState } from "./state.ts";
import { MECHANISMS, SEAL_PROGRAMS } from "../object/mechanism.ts";
import { PINNED_MAPS } from "../object/maps.ts";
import { pinPaths } from "./paths.ts";
import { authorizeIfKeySealed } from "./authorize.ts";
import { dropSealKey } from "../kernel/keyring.ts";

export interface UnloadResult {
  wasLoaded: boolean;
  /** cgwarden's own pins, as "links/NAME" and "maps/NAME". */
  removed: string[];
  /** Entries in maps/ and links/ that cgwarden does not create, removed as well. */
  strays: string[];
  /** Other entries of the pin directory, left in place. */
  left: string[];
}

const BPF_FS_MAGIC = 0xcafe4a11;

/** Caller holds the writer lock. Throws only after removing everything it could. */
export async function unloadWarden(pinDir: string): Promise<UnloadResult> {
  const top = lstatOrNull(pinDir);
  if (!top) return { wasLoaded: false, removed: [], strays: [], left: [] };
  if (!top.isDirectory() || Number(statfsSync(pinDir).type) !== BPF_FS_MAGIC)
    throw new CliError({ problem: `${pinDir} is not a directory on bpffs, so it holds no cgwarden pins; nothing was removed`, fix: "give the right --pin-dir (default /sys/fs/bpf/cgwarden)" });

  const p = pinPaths(pinDir);
  liftSealAsManager(pinDir);
  const removed: string[] = [];
  const strays: string[] = [];
  const failed: string[] = [];
  const remove = (rel: string, own: boolean) => {
    const full = join(pinDir, rel);
    try {
      const st = lstatSync(full);
      // A pin is unlinked; only a stray directory is removed with what is in it.
      if (st.isDirectory()) rmSync(full, { recursive: true });
      else rmSync(full);
      (own && !st.isDirectory() ? removed : strays).push(st.isDirectory() ? `${rel}/` : rel);
    } catch (e) {
      failed.push(`${rel} (${reason(e)})`);
    }
  };

  const links = detachOrder(entries(p.linksDir));
  const attachments = links.filter((name) => KNOWN_LINKS.has(name)).flatMap((name) => attachmentOf(p.link(name)));
  for (const name of links) remove(`links/${name}`, KNOWN_LINKS.has(name));
  for (const name of entries(p.progsDir)) remove(`progs/${name}`, KNOWN_PROGS.has(name));
  const maps = entries(p.mapsDir);
  for (const name of [...PINNED_MAPS.filter((m) => maps.includes(m)), ...maps.filter((m) => !KNOWN_MAPS.has(m))])
    remove(`maps/${name}`, KNOWN_MAPS.has(name));
  for (const dir of [p.linksDir, p.progsDir, p.mapsDir]) {
    const st = lstatOrNull(dir);
    if (st && !st.isDirectory()) remove(dir.slice(pinDir.length + 1), false);
    else if (st) rmdirQuiet(dir, failed);
  }
  const left = entries(pinDir);
  if (failed.length === 0 && left.length === 0) rmdirQuiet(pinDir, failed);

  // The last pin of a link going away detaches it a little later, from a kernel work item:
  // "unloaded" must mean that nothing decides any more.
  const attached = await waitDetached(attachments);
  if (attached.length)
    failed.push(`${attached.length} links still attached after their pins were removed (link ids ${attached.map((a) => a.linkId).join(", ")}: a process holds them open, see 'bpftool link show')`);
  if (failed.length)
    throw new CliError(
      `unload removed ${removed.length} pins but could not remove ${failed.join(", ")} in ${pinDir}; remove those by hand, then run 'cgwarden unload' again`,
    );
  return { wasLoaded: removed.length > 0, removed, strays, left };
}

const KNOWN_LINKS = new Set([...SEAL_PROGRAMS, ...MECHANISMS.flatMap((m) => m.programs)]);
const KNOWN_PROGS = new Set(SEAL_PROGRAMS);
const KNOWN_MAPS = new Set<string>(PINNED_MAPS);

/**
 * A sealed policy is unloaded by its managers only. Only they get a writable
 * fd to the seal map, which is the test; switching the seal off first means
 * an unload that stops half-way leaves an unsealed policy behind.
 */
function liftSealAsManager(pinDir: string): void {
  let seal: SealState | null = null;
  try {
    seal = readSeal(pinDir);
  } catch {
    return; // damaged: unload is the way out of that
  }
  if (!seal?.sealed) return;
  authorizeIfKeySealed(pinDir);
  let map: MapFd | null;
  try {
    map = MapFd.openPinned(pinPaths(pinDir).map("seal"));
  } catch (e) {
    if (e instanceof BpfError && e.errno === Errno.EPERM) throw sealedError(pinDir, seal, "unload it");
    throw e;
  }
  try {
    map?.update(u32Key(0), Buffer.alloc(SealLayout.size));
  } finally {
    map?.close();
  }
  if (seal.key) dropSealKey(seal.key.ring);
}

/** Known programs in reverse attach order (deciders first), then anything else. */
function detachOrder(links: string[]): string[] {
  const known = [...SEAL_PROGRAMS, ...MECHANISMS.flatMap((m) => [...m.programs].reverse())];
  return [...links].sort((a, b) => rank(known, a) - rank(known, b));
}

function rank(order: string[], name: string): number {
  const i = order.indexOf(name);
  return i < 0 ? order.length : i;
}

/** A pinned link's id and its program's, so its detaching can be awaited; none when it cannot be read. */
function attachmentOf(path: string): Attachment[] {
  try {
    const fd = openPinned(path);
    if (fd === null) return [];
    try {
      const { linkId, progId } = linkInfo(fd);
      return [{ linkId, progId }];
    } finally {
      closeFd(fd);
    }
  } catch {
    return [];
  }
}

/** Names in a directory; nothing when it is missing or not a directory. */
function entries(dir: string): string[] {
  try {
    return lstatSync(dir).isDirectory() ? readdirSync(dir) : [];
  } catch {
    return [];
  }
}

function lstatOrNull(path: string): Stats | null {
  try {
    return lstatSync(path);
  } catch {
    return null;
  }
}

function rmdirQuiet(dir: string, failed: string[]): void {
  try {
    rmdirSync(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOENT") failed.push(`${dir} (${reason(e)})`);
  }
}

function reason(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  return err.code ?? String(err.message).split("\n")[0]!;
}
