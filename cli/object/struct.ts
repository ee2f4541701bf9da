// Fixed-layout little-endian structs, declared once per C struct of bpf/cgwarden.h.
export type FieldType = "u8" | "u16" | "u32" | "u64" | "char" | "u64[]" | "u32[]" | "bytes";

export interface Field {
  name: string;
  type: FieldType;
  offset: number;
  /** Array length, or buffer length for "char" and "bytes". */
  count?: number;
}

export interface StructLayout<T> {
  cName: string;
  size: number;
  fields: Field[];
  encode(value: T): Buffer;
  decode(buf: Uint8Array): T;
}

type Value = number | bigint | string | number[] | bigint[] | Buffer;

export function defineStruct<T extends Record<string, Value>>(cName: string, size: number, fields: Field[]): StructLayout<T> {
  return {
    cName,
    size,
    fields,
    encode(value: T): Buffer {
      const b = Buffer.alloc(size);
      for (const f of fields) {
        const v = value[f.name as keyof T] as Value | undefined;
        if (v === undefined) continue;
        writeField(b, f, v);
      }
      return b;
    },
    decode(raw: Uint8Array): T {
      const b = Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength);
      const out: Record<string, Value> = {};
      for (const f of fields) out[f.name] = readField(b, f);
      return out as T;
    },
  };
}

function writeField(b: Buffer, f: Field, v: Value): void {
  switch (f.type) {
    case "u8":
      b.writeUInt8(Number(v), f.offset);
      break;
    case "u16":
      b.writeUInt16LE(Number(v), f.offset);
      break;
    case "u32":
      b.writeUInt32LE(Number(v) >>> 0, f.offset);
      break;
    case "u64":
      b.writeBigUInt64LE(BigInt(v as number | bigint), f.offset);
      break;
    case "char": {
      const bytes = Buffer.from(String(v), "utf8");
      if (bytes.length >= (f.count ?? 0)) throw new RangeError(`${f.name} is longer than ${(f.count ?? 1) - 1} bytes`);
      bytes.copy(b, f.offset);
      break;
    }
    case "u64[]":
      (v as Array<number | bigint>).forEach((x, i) => b.writeBigUInt64LE(BigInt(x), f.offset + 8 * i));
      break;
    case "u32[]":
      (v as number[]).forEach((x, i) => b.writeUInt32LE(x >>> 0, f.offset + 4 * i));
      break;
    case "bytes": {
      const bytes = v as Buffer;
      if (bytes.length > (f.count ?? 0)) throw new RangeError(`${f.name} is longer than ${f.count ?? 0} bytes`);
      bytes.copy(b, f.offset);
      break;
    }
  }
}

function readField(b: Buffer, f: Field): Value {
  switch (f.type) {
    case "u8":
      return b.readUInt8(f.offset);
    case "u16":
      return b.readUInt16LE(f.offset);
    case "u32":
      return b.readUInt32LE(f.offset);
    case "u64":
      return b.readBigUInt64LE(f.offset);
    case "char": {
      const raw = b.subarray(f.offset, f.offset + (f.count ?? 0));
      const end = raw.indexOf(0);
      return raw.toString("utf8", 0, end < 0 ? raw.length : end);
    }
    case "u64[]":
      return Array.from({ length: f.count ?? 0 }, (_, i) => b.readBigUInt64LE(f.offset + 8 * i));
    case "u32[]":
      return Array.from({ length: f.count ?? 0 }, (_, i) => b.readUInt32LE(f.offset + 4 * i));
    case "bytes":
      return Buffer.from(b.subarray(f.offset, f.offset + (f.count ?? 0)));
  }
}

/** Map keys and values that are one scalar: BPF maps are host-endian, and every target here is little-endian. */
export function u32Key(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
}

export function i32Key(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeInt32LE(n);
  return b;
}

export function u64Key(n: bigint): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(n);
  return b;
}
