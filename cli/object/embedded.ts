// The BPF object built from bpf/ and embedded in the executable by `bun build --compile`.
import objectPath from "../../embedded/cgwarden.bpf.o" with { type: "file" };

let cached: Uint8Array | undefined;

export async function objectBytes(): Promise<Uint8Array> {
  cached ??= new Uint8Array(await Bun.file(objectPath).arrayBuffer());
  return cached;
}

export async function objectSha256(): Promise<string> {
  return new Bun.CryptoHasher("sha256").update(await objectBytes()).digest("hex");
}
