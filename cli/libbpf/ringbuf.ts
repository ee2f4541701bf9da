import { JSCallback, toArrayBuffer, type Pointer } from "bun:ffi";
import { lastErrno, libbpf } from "./ffi.ts";
import { BpfError } from "./errors.ts";
import { installLibbpfLog } from "./log.ts";
import { Errno } from "./uapi.ts";

/**
 * A BPF ring buffer consumer. The callback runs inside poll() on this thread;
 * the bytes it gets are only valid during the call, so it receives a copy.
 */
export class RingBuffer {
  private readonly callback: JSCallback;
  private readonly handle: Pointer;
  private closed = false;

  constructor(mapFd: number, onRecord: (data: Uint8Array) => void) {
    installLibbpfLog();
    this.callback = new JSCallback(
      (_ctx: Pointer, data: Pointer, size: number) => {
        onRecord(new Uint8Array(toArrayBuffer(data, 0, Number(size))).slice());
        return 0;
      },
      { args: ["ptr", "ptr", "u64"], returns: "i32" },
    );
    const h = libbpf().ring_buffer__new(mapFd, this.callback.ptr, null, null);
    if (!h) {
      this.callback.close();
      throw new BpfError("opening the events ring buffer", lastErrno());
    }
    this.handle = h as Pointer;
  }

  /** Waits up to timeoutMs for records; returns how many were consumed. */
  poll(timeoutMs: number): number {
    const n = libbpf().ring_buffer__poll(this.handle, timeoutMs);
    if (n < 0 && n !== -Errno.EINTR) throw new BpfError("polling the events ring buffer", -n);
    return Math.max(0, n);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    libbpf().ring_buffer__free(this.handle);
    this.callback.close();
  }
}
