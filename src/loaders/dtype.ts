/** Safetensors dtypes the loader reads, and their conversion to float32. */

export type FileDType = 'BF16' | 'F16' | 'F32';

export const DTYPE_BYTES: Record<FileDType, number> = { BF16: 2, F16: 2, F32: 4 };

export function isFileDType(s: string): s is FileDType {
  return s === 'BF16' || s === 'F16' || s === 'F32';
}

/** Converts little-endian raw bytes of `dtype` to a new Float32Array (exact for all three). */
export function toFloat32(bytes: Uint8Array, dtype: FileDType): Float32Array {
  const n = bytes.byteLength / DTYPE_BYTES[dtype];
  const out = new Float32Array(n);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (dtype === 'F32') {
    for (let i = 0; i < n; i++) out[i] = view.getFloat32(4 * i, true);
  } else if (dtype === 'BF16') {
    const u32 = new Uint32Array(out.buffer);
    for (let i = 0; i < n; i++) u32[i] = view.getUint16(2 * i, true) << 16;
  } else {
    for (let i = 0; i < n; i++) out[i] = halfToFloat(view.getUint16(2 * i, true));
  }
  return out;
}

/** IEEE 754 binary16 -> number (subnormals, inf and NaN included). */
export function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 0x1f) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}
