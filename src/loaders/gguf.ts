/**
 * GGUF (llama.cpp) reader, versions 2 and 3 (same little-endian layout): header, metadata key/values of every
 * type (arrays included), tensor infos, `general.alignment` (default 32) and the data offset. Tensor bytes are
 * read on demand with positioned reads, like the safetensors reader. Tensor types F32, F16, BF16 and Q8_0;
 * any other type is refused at open with an error naming the tensor and the type. Malformed or truncated
 * files give a `CheckpointError` naming the file (and the tensor).
 */
import { closeSync, fstatSync, openSync } from 'node:fs';
import { halfToFloat } from './dtype.js';
import { CheckpointError } from './safetensors.js';
import { readExact } from './positioned-read.js';

/** GGUF metadata value types (the `gguf_type` enum). */
export const GGUF_VALUE = { U8: 0, I8: 1, U16: 2, I16: 3, U32: 4, I32: 5, F32: 6, BOOL: 7, STRING: 8, ARRAY: 9, U64: 10, I64: 11, F64: 12 } as const;

/** A metadata value: integers and floats as numbers (64-bit integers beyond 2^53 as bigint), arrays as JS arrays. */
export type GgufValue = number | bigint | boolean | string | GgufValue[];

/** One metadata entry with its declared type (arrays: `itemType` is the element type). */
export interface GgufEntry {
  type: number;
  itemType?: number;
  value: GgufValue;
}

/** ggml tensor types this reader decodes. */
export type GgmlType = 'F32' | 'F16' | 'BF16' | 'Q8_0';

const SUPPORTED: Record<number, GgmlType> = { 0: 'F32', 1: 'F16', 30: 'BF16', 8: 'Q8_0' };
/** Names of the other ggml types, for error messages only. */
const OTHER_TYPES: Record<number, string> = {
  2: 'Q4_0', 3: 'Q4_1', 6: 'Q5_0', 7: 'Q5_1', 9: 'Q8_1', 10: 'Q2_K', 11: 'Q3_K', 12: 'Q4_K', 13: 'Q5_K', 14: 'Q6_K', 15: 'Q8_K',
  16: 'IQ2_XXS', 17: 'IQ2_XS', 18: 'IQ3_XXS', 19: 'IQ1_S', 20: 'IQ4_NL', 21: 'IQ3_S', 22: 'IQ2_S', 23: 'IQ4_XS', 24: 'I8',
  25: 'I16', 26: 'I32', 27: 'I64', 28: 'F64', 29: 'IQ1_M', 34: 'TQ1_0', 35: 'TQ2_0', 39: 'MXFP4',
};

/** Q8_0 block: one f16 scale then 32 int8 values. */
export const Q8_0_BLOCK = 32;
export const Q8_0_BYTES = 34;

/** Bytes of `count` elements of a ggml type (`count` a multiple of 32 for Q8_0). */
export function ggmlBytes(type: GgmlType, count: number): number {
  if (type === 'Q8_0') return (count / Q8_0_BLOCK) * Q8_0_BYTES;
  return count * (type === 'F32' ? 4 : 2);
}

/** Where a tensor lives in the file. `ne` is ggml order: fastest axis first (the PyTorch shape reversed). */
export interface GgufTensorInfo {
  name: string;
  type: GgmlType;
  ne: number[];
  /** Absolute byte offset of the data in the file. */
  offset: number;
  byteLength: number;
}

const MAGIC = 0x46554747; // "GGUF" little-endian
const CHUNK = 1 << 20;
const UTF8 = new TextDecoder('utf-8');

/** One open .gguf file. */
export class GgufFile {
  readonly metadata = new Map<string, GgufEntry>();
  readonly tensors = new Map<string, GgufTensorInfo>();
  version = 0;
  alignment = 32;
  dataOffset = 0;
  private fd: number | null;
  private size = 0;
  // header cursor: a window of the file refilled on demand
  private pos = 0;
  private win: Uint8Array = new Uint8Array(0);
  private winStart = 0;
  private view: DataView = new DataView(new ArrayBuffer(0));

  constructor(readonly path: string) {
    try {
      this.fd = openSync(path, 'r');
    } catch (e) {
      throw new CheckpointError(`${path}: cannot open (${(e as Error).message})`);
    }
    try {
      this.size = fstatSync(this.fd).size;
      this.parse();
    } catch (e) {
      this.close();
      throw e;
    }
    this.win = new Uint8Array(0); // the header window is not needed after parsing
  }

  private parse(): void {
    if (this.size < 24) throw new CheckpointError(`${this.path}: truncated file (${this.size} bytes, shorter than a GGUF header)`);
    const magic = this.u32();
    if (magic !== MAGIC) throw new CheckpointError(`${this.path}: not a GGUF file (magic 0x${magic.toString(16).padStart(8, '0')}, expected "GGUF")`);
    this.version = this.u32();
    if (this.version !== 2 && this.version !== 3) {
      throw new CheckpointError(`${this.path}: unsupported GGUF version ${this.version} (supported: 2, 3)`);
    }
    const nTensors = this.count('tensor count');
    const nKv = this.count('metadata count');
    for (let i = 0; i < nKv; i++) {
      const key = this.str();
      const type = this.u32();
      try {
        this.metadata.set(key, this.entry(type));
      } catch (e) {
        if (e instanceof CheckpointError) throw new CheckpointError(`${e.message} (metadata key "${key}")`);
        throw e;
      }
    }
    const align = this.metadata.get('general.alignment');
    if (align) {
      const a = Number(align.value);
      if (!Number.isInteger(a) || a <= 0 || (a & (a - 1)) !== 0) throw new CheckpointError(`${this.path}: general.alignment ${String(align.value)} is not a power of two`);
      this.alignment = a;
    }
    const infos: Array<{ name: string; type: GgmlType; ne: number[]; rel: number }> = [];
    for (let i = 0; i < nTensors; i++) {
      const name = this.str();
      const bad = (why: string): never => {
        throw new CheckpointError(`${this.path}: tensor "${name}": ${why}`);
      };
      const nDims = this.u32();
      if (nDims < 1 || nDims > 4) bad(`bad dimension count ${nDims}`);
      const ne: number[] = [];
      for (let d = 0; d < nDims; d++) ne.push(this.count(`dimension of tensor "${name}"`));
      const typeId = this.u32();
      const type = SUPPORTED[typeId];
      if (!type) bad(`unsupported ggml type ${OTHER_TYPES[typeId] ?? 'unknown'} (${typeId}); supported: F32, F16, BF16, Q8_0`);
      if (type === 'Q8_0' && ne[0] % Q8_0_BLOCK !== 0) bad(`Q8_0 row length ${ne[0]} is not a multiple of ${Q8_0_BLOCK}`);
      const rel = this.count(`offset of tensor "${name}"`);
      if (rel % this.alignment !== 0) bad(`data offset ${rel} is not a multiple of the alignment ${this.alignment}`);
      if (this.tensors.has(name) || infos.some((t) => t.name === name)) bad('declared twice');
      infos.push({ name, type, ne, rel });
    }
    this.dataOffset = Math.ceil(this.pos / this.alignment) * this.alignment;
    for (const t of infos) {
      const count = t.ne.reduce((a, b) => a * b, 1);
      const byteLength = ggmlBytes(t.type, count);
      const offset = this.dataOffset + t.rel;
      if (offset + byteLength > this.size) {
        throw new CheckpointError(`${this.path}: tensor "${t.name}": data ends at byte ${offset + byteLength} but the file has ${this.size} bytes (truncated file)`);
      }
      this.tensors.set(t.name, { name: t.name, type: t.type, ne: t.ne, offset, byteLength });
    }
  }

  // ---- header cursor ----
  private need(n: number): void {
    if (this.pos + n > this.size) throw new CheckpointError(`${this.path}: unexpected end of file at byte ${this.pos} in the header (truncated file)`);
    if (this.pos >= this.winStart && this.pos + n <= this.winStart + this.win.length) return;
    this.win = this.readAt(this.pos, Math.min(Math.max(n, CHUNK), this.size - this.pos));
    this.winStart = this.pos;
    this.view = new DataView(this.win.buffer, this.win.byteOffset, this.win.byteLength);
  }
  private at(n: number): number {
    this.need(n);
    const o = this.pos - this.winStart;
    this.pos += n;
    return o;
  }
  /** Reads `n` bytes at the cursor through `get` (the offset is taken first: taking it may refill the window). */
  private read<R>(n: number, get: (v: DataView, o: number) => R): R {
    const o = this.at(n);
    return get(this.view, o);
  }
  private u32(): number {
    return this.read(4, (v, o) => v.getUint32(o, true));
  }
  private u64(): bigint {
    return this.read(8, (v, o) => v.getBigUint64(o, true));
  }
  /** A u64 that must fit a JS number (counts, sizes, offsets). */
  private count(what: string): number {
    const v = this.u64();
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new CheckpointError(`${this.path}: ${what} ${v} is too large (corrupt header)`);
    return Number(v);
  }
  private str(): string {
    const len = this.count('string length');
    if (len > this.size) throw new CheckpointError(`${this.path}: string length ${len} exceeds the file size (corrupt header)`);
    const o = this.at(len);
    return UTF8.decode(this.win.subarray(o, o + len));
  }
  private entry(type: number): GgufEntry {
    if (type === GGUF_VALUE.ARRAY) {
      const itemType = this.u32();
      if (itemType === GGUF_VALUE.ARRAY) throw new CheckpointError(`${this.path}: nested GGUF arrays are not supported`);
      const n = this.count('array length');
      if (n > this.size) throw new CheckpointError(`${this.path}: array length ${n} exceeds the file size (corrupt header)`);
      const value: GgufValue[] = new Array(n);
      for (let i = 0; i < n; i++) value[i] = this.scalar(itemType);
      return { type, itemType, value };
    }
    return { type, value: this.scalar(type) };
  }
  private scalar(type: number): GgufValue {
    switch (type) {
      case GGUF_VALUE.U8: return this.read(1, (v, o) => v.getUint8(o));
      case GGUF_VALUE.I8: return this.read(1, (v, o) => v.getInt8(o));
      case GGUF_VALUE.U16: return this.read(2, (v, o) => v.getUint16(o, true));
      case GGUF_VALUE.I16: return this.read(2, (v, o) => v.getInt16(o, true));
      case GGUF_VALUE.U32: return this.u32();
      case GGUF_VALUE.I32: return this.read(4, (v, o) => v.getInt32(o, true));
      case GGUF_VALUE.F32: return this.read(4, (v, o) => v.getFloat32(o, true));
      case GGUF_VALUE.BOOL: return this.read(1, (v, o) => v.getUint8(o)) !== 0;
      case GGUF_VALUE.STRING: return this.str();
      case GGUF_VALUE.U64: return safe(this.u64());
      case GGUF_VALUE.I64: return safe(this.read(8, (v, o) => v.getBigInt64(o, true)));
      case GGUF_VALUE.F64: return this.read(8, (v, o) => v.getFloat64(o, true));
      default: throw new CheckpointError(`${this.path}: unknown metadata value type ${type}`);
    }
  }

  /** Raw bytes of a tensor, or of `byteLength` bytes starting `skip` bytes into it (one expert of a stack). */
  readBytes(name: string, skip = 0, byteLength?: number): Uint8Array {
    const info = this.tensors.get(name);
    if (!info) throw new CheckpointError(`${this.path}: no tensor "${name}"`);
    const len = byteLength ?? info.byteLength - skip;
    if (skip < 0 || skip + len > info.byteLength) throw new CheckpointError(`${this.path}: read past the end of tensor "${name}"`);
    try {
      return this.readAt(info.offset + skip, len);
    } catch (e) {
      if (e instanceof CheckpointError) throw new CheckpointError(`${e.message} (tensor "${name}")`);
      throw e;
    }
  }

  private readAt(position: number, length: number): Uint8Array {
    return readExact(this.fd, this.path, position, length);
  }

  close(): void {
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
  }
}

function safe(v: bigint): number | bigint {
  return v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= BigInt(Number.MIN_SAFE_INTEGER) ? Number(v) : v;
}

/** Decodes `bytes` of a ggml type to float32 (exact for F32/F16/BF16; Q8_0: d * q per block). */
export function ggmlToFloat32(bytes: Uint8Array, type: GgmlType): Float32Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (type === 'Q8_0') {
    const blocks = bytes.byteLength / Q8_0_BYTES;
    const out = new Float32Array(blocks * Q8_0_BLOCK);
    for (let b = 0; b < blocks; b++) {
      const o = b * Q8_0_BYTES;
      const d = halfToFloat(view.getUint16(o, true));
      for (let j = 0; j < Q8_0_BLOCK; j++) out[b * Q8_0_BLOCK + j] = d * view.getInt8(o + 2 + j);
    }
    return out;
  }
  const n = bytes.byteLength / (type === 'F32' ? 4 : 2);
  const out = new Float32Array(n);
  if (type === 'F32') for (let i = 0; i < n; i++) out[i] = view.getFloat32(4 * i, true);
  else if (type === 'BF16') {
    const u32 = new Uint32Array(out.buffer);
    for (let i = 0; i < n; i++) u32[i] = view.getUint16(2 * i, true) << 16;
  } else for (let i = 0; i < n; i++) out[i] = halfToFloat(view.getUint16(2 * i, true));
  return out;
}
