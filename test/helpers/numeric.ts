/** Numeric helpers shared by the GPU tests and the kernel emulator checks (no device access here). */

/** Rounds float32 values to bf16 (nearest even): the rounded floats, the raw bf16 words and their bytes. */
export function toBf16(v: Float32Array): { values: Float32Array; raw: Uint16Array; bytes: Uint8Array } {
  const u = new Uint32Array(v.buffer, v.byteOffset, v.length);
  const raw = new Uint16Array(v.length);
  const values = new Float32Array(v.length);
  const out = new Uint32Array(values.buffer);
  for (let i = 0; i < v.length; i++) {
    raw[i] = (u[i] + 0x7fff + ((u[i] >>> 16) & 1)) >>> 16;
    out[i] = raw[i] << 16;
  }
  return { values, raw, bytes: new Uint8Array(raw.buffer) };
}

/** max |a - b| / max |b| (Infinity when a has NaN or infinities). */
export function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < b.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    if (!Number.isFinite(d)) return Infinity;
    num = Math.max(num, d);
    den = Math.max(den, Math.abs(b[i]));
  }
  return den === 0 ? num : num / den;
}
