// A map by file descriptor: pinned maps are used this way long after the
// object that created them is gone.
import { cstr, libbpf, libc } from "./ffi.ts";
import { check } from "./errors.ts";
import { objectInfo, openPinned } from "./info.ts";
import { BPF_ANY, Errno } from "./uapi.ts";

/** Entries per batch call. */
const BATCH = 1024;

export interface MapInfo {
  type: number;
  id: number;
  keySize: number;
  valueSize: number;
  maxEntries: number;
  flags: number;
  name: string;
}

/**
 * Crash tests stop a command right before one of its map writes, the way a
 * SIGKILL landing on that bpf(2) call would: in-process through
 * onMapWrite(), or in the real binary with CGWARDEN_KILL_BEFORE_WRITE=N
 * (SIGKILL before the Nth write). Nothing else uses either.
 */
type WriteObserver = (label: string) => void;
let observer: WriteObserver | null = null;
let writes = 0;
const killBefore = Number(process.env.CGWARDEN_KILL_BEFORE_WRITE ?? 0);

export function onMapWrite(fn: WriteObserver | null): void {
  observer = fn;
}

function beforeWrite(label: string): void {
  if (killBefore && ++writes === killBefore) process.kill(process.pid, "SIGKILL");
  observer?.(label);
}

export class MapFd {
  constructor(
    readonly fd: number,
    readonly label: string,
    private readonly owned = true,
  ) {}

  /** Opens a pinned map; ENOENT becomes null so callers can tell "not loaded" from failure. */
  static openPinned(path: string, readOnly = false): MapFd | null {
    const fd = openPinned(path, readOnly);
    return fd === null ? null : new MapFd(fd, path);
  }

  /** Borrows the fd of a map that an open object owns. */
  static borrow(fd: number, label: string): MapFd {
    return new MapFd(fd, label, false);
  }

  info(): MapInfo {
    const b = objectInfo(this.fd, 88, `map ${this.label}`);
    return {
      type: b.readUInt32LE(0),
      id: b.readUInt32LE(4),
      keySize: b.readUInt32LE(8),
      valueSize: b.readUInt32LE(12),
      maxEntries: b.readUInt32LE(16),
      flags: b.readUInt32LE(20),
      name: b.toString("utf8", 24, 40).replace(/\0.*$/s, ""),
    };
  }

  lookup(key: Uint8Array, valueSize: number): Buffer | null {
    const value = Buffer.alloc(valueSize);
    const rc = libbpf().bpf_map_lookup_elem(this.fd, key, value);
    if (rc === -Errno.ENOENT) return null;
    check(`reading map ${this.label}`, () => rc);
    return value;
  }

  update(key: Uint8Array, value: Uint8Array, flags = BPF_ANY): void {
    beforeWrite(this.label);
    check(`writing map ${this.label}`, () => libbpf().bpf_map_update_elem(this.fd, key, value, flags));
  }

  /** Returns false when the key was not there. */
  delete(key: Uint8Array): boolean {
    beforeWrite(this.label);
    const rc = libbpf().bpf_map_delete_elem(this.fd, key);
    if (rc === -Errno.ENOENT) return false;
    check(`deleting from map ${this.label}`, () => rc);
    return true;
  }

  /** Many updates in few bpf(2) calls (BPF_MAP_UPDATE_BATCH); each chunk counts as one write. */
  updateMany(entries: ReadonlyArray<readonly [Uint8Array, Uint8Array]>): void {
    for (let at = 0; at < entries.length; at += BATCH) {
      const chunk = entries.slice(at, at + BATCH);
      beforeWrite(this.label);
      const keys = Buffer.concat(chunk.map(([k]) => k));
      const values = Buffer.concat(chunk.map(([, v]) => v));
      const count = new Uint32Array([chunk.length]);
      check(`writing map ${this.label}`, () => libbpf().bpf_map_update_batch(this.fd, keys, values, count, null));
    }
  }

  /** Deletes keys that are present (a missing one fails the batch), in few bpf(2) calls. */
  deleteMany(keys: readonly Uint8Array[]): void {
    for (let at = 0; at < keys.length; at += BATCH) {
      const chunk = keys.slice(at, at + BATCH);
      beforeWrite(this.label);
      const count = new Uint32Array([chunk.length]);
      check(`deleting from map ${this.label}`, () => libbpf().bpf_map_delete_batch(this.fd, Buffer.concat(chunk), count, null));
    }
  }

  /** Every entry, read in chunks (BPF_MAP_LOOKUP_BATCH): two bpf(2) calls per thousand entries rather than two per entry. */
  readAll(keySize: number, valueSize: number): Array<[Buffer, Buffer]> {
    const out: Array<[Buffer, Buffer]> = [];
    const token = Buffer.alloc(Math.max(keySize, 8));
    const next = Buffer.alloc(Math.max(keySize, 8));
    const keys = Buffer.alloc(keySize * BATCH);
    const values = Buffer.alloc(valueSize * BATCH);
    for (let first = true; ; first = false) {
      const count = new Uint32Array([BATCH]);
      const rc = libbpf().bpf_map_lookup_batch(this.fd, first ? null : token, next, keys, values, count, null);
      if (rc < 0 && rc !== -Errno.ENOENT) check(`reading map ${this.label}`, () => rc);
      for (let i = 0; i < count[0]!; i++)
        out.push([Buffer.from(keys.subarray(i * keySize, (i + 1) * keySize)), Buffer.from(values.subarray(i * valueSize, (i + 1) * valueSize))]);
      if (rc === -Errno.ENOENT) return out;
      next.copy(token);
    }
  }

  *keys(keySize: number): Generator<Buffer> {
    let prev: Buffer | null = null;
    for (;;) {
      const next = Buffer.alloc(keySize);
      const rc = libbpf().bpf_map_get_next_key(this.fd, prev, next);
      if (rc === -Errno.ENOENT) return;
      check(`listing map ${this.label}`, () => rc);
      yield next;
      prev = next;
    }
  }

  *entries(keySize: number, valueSize: number): Generator<[Buffer, Buffer]> {
    for (const key of [...this.keys(keySize)]) {
      const value = this.lookup(key, valueSize);
      if (value) yield [key, value];
    }
  }

  pin(path: string): void {
    check(`pinning map at ${path}`, () => libbpf().bpf_obj_pin(this.fd, cstr(path)));
  }

  close(): void {
    if (this.owned) libc().close(this.fd);
  }
}
