/**
 * Safetensors reader: parses the header once, reads tensor bytes on demand with positioned reads, so a
 * 63 GB sharded checkpoint is never held in memory to find one tensor. Every malformed input becomes a
 * `CheckpointError` that names the file (and the tensor).
 */
import { closeSync, fstatSync, openSync } from 'node:fs';
import { DTYPE_BYTES, type FileDType, isFileDType, toFloat32 } from './dtype.js';
import { readExact } from './positioned-read.js';

/** A checkpoint problem, naming the file and, where it applies, the tensor. */
export class CheckpointError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CheckpointError';
  }
}

/** Where a tensor lives in its file. */
export interface TensorInfo {
  name: string;
  dtype: FileDType;
  shape: number[];
  /** Absolute byte offset of the data in the file. */
  offset: number;
  byteLength: number;
}

const MAX_HEADER = 100 * 1024 * 1024;

/** One open .safetensors file. */
export class SafetensorsFile {
  readonly tensors = new Map<string, TensorInfo>();
  readonly metadata: Record<string, string> = {};
  private fd: number | null;

  constructor(readonly path: string) {
    try {
      this.fd = openSync(path, 'r');
    } catch (e) {
      throw new CheckpointError(`${path}: cannot open (${(e as Error).message})`);
    }
    try {
      this.parseHeader();
    } catch (e) {
      this.close();
      throw e;
    }
  }

  private parseHeader(): void {
    const size = fstatSync(this.fd!).size;
    if (size < 8) throw new CheckpointError(`${this.path}: truncated file (${size} bytes, no header length)`);
    const lenBuf = this.readAt(0, 8);
    const headerLen = Number(new DataView(lenBuf.buffer, lenBuf.byteOffset, 8).getBigUint64(0, true));
    if (headerLen > MAX_HEADER || 8 + headerLen > size) {
      throw new CheckpointError(`${this.path}: bad header length ${headerLen} for a file of ${size} bytes (truncated or not safetensors)`);
    }
    let header: unknown;
    try {
      header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(this.readAt(8, headerLen)));
    } catch (e) {
      throw new CheckpointError(`${this.path}: header is not valid JSON (${(e as Error).message})`);
    }
    if (header === null || typeof header !== 'object' || Array.isArray(header)) {
      throw new CheckpointError(`${this.path}: header is not a JSON object`);
    }
    const dataStart = 8 + headerLen;
    for (const [name, entry] of Object.entries(header as Record<string, unknown>)) {
      if (name === '__metadata__') {
        Object.assign(this.metadata, entry);
        continue;
      }
      const bad = (why: string): never => {
        throw new CheckpointError(`${this.path}: tensor "${name}": ${why}`);
      };
      const e = entry as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
      if (typeof e?.dtype !== 'string') bad('missing dtype');
      const dtype = e.dtype as string;
      if (!isFileDType(dtype)) bad(`unsupported dtype ${dtype} (supported: BF16, F16, F32)`);
      const shape = e.shape;
      if (!Array.isArray(shape) || shape.some((d) => !Number.isInteger(d) || d < 0)) bad('bad shape');
      const offs = e.data_offsets;
      if (!Array.isArray(offs) || offs.length !== 2 || !offs.every((o) => Number.isInteger(o) && o >= 0) || offs[0] > offs[1]) {
        bad('bad data_offsets');
      }
      const [begin, end] = offs as number[];
      const count = (shape as number[]).reduce((a, b) => a * b, 1);
      const expected = count * DTYPE_BYTES[dtype as FileDType];
      if (end - begin !== expected) bad(`data_offsets span ${end - begin} bytes but shape ${JSON.stringify(shape)} x ${dtype} needs ${expected}`);
      if (dataStart + end > size) bad(`data ends at byte ${dataStart + end} but the file has ${size} bytes (truncated file)`);
      this.tensors.set(name, { name, dtype: dtype as FileDType, shape: shape as number[], offset: dataStart + begin, byteLength: expected });
    }
  }

  /** Raw bytes of a tensor, or of `byteLength` bytes starting `skip` bytes into it (a slice of a fused tensor). */
  readBytes(name: string, skip = 0, byteLength?: number): Uint8Array {
    const info = this.tensors.get(name);
    if (!info) throw new CheckpointError(`${this.path}: no tensor "${name}"`);
    const len = byteLength ?? info.byteLength - skip;
    if (skip + len > info.byteLength) throw new CheckpointError(`${this.path}: read past the end of tensor "${name}"`);
    return this.readAt(info.offset + skip, len);
  }

  /** A whole tensor as float32. */
  readFloat32(name: string): Float32Array {
    const info = this.tensors.get(name);
    if (!info) throw new CheckpointError(`${this.path}: no tensor "${name}"`);
    return toFloat32(this.readBytes(name), info.dtype);
  }

  private readAt(position: number, length: number): Uint8Array {
    return readExact(this.fd, this.path, position, length);
  }

  close(): void {
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
  }
}
