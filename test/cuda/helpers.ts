/** Shared by the CUDA tests: whether a GPU is here (and why not), one backend per test file, bf16 helpers. */
import { describe } from 'vitest';
import { cudaAvailability } from '../../src/backends/cuda/available.js';
import { CudaBackend, type CudaBackendOptions } from '../../src/backends/cuda/backend.js';

export const cuda = cudaAvailability();
if (!cuda.ok) console.warn(`\n[test:cuda] GPU suites SKIPPED: ${cuda.reason}\n`);

/** `describe` when a CUDA device is usable, else a skipped suite. */
export const describeCuda = (cuda.ok ? describe : describe.skip) as typeof describe;

const backends = new Map<string, CudaBackend>();

/** One backend per option set and process (they share the device's primary context). */
export function gpu(opts: CudaBackendOptions = {}): CudaBackend {
  const key = JSON.stringify(opts);
  let b = backends.get(key);
  if (!b) backends.set(key, (b = new CudaBackend({ poison: true, ...opts })));
  return b;
}

/** Rounds float32 values to bf16 (nearest even); returns the rounded floats and the raw bf16 bytes. */
export function toBf16(v: Float32Array): { values: Float32Array; bytes: Uint8Array } {
  const u = new Uint32Array(v.buffer, v.byteOffset, v.length);
  const raw = new Uint16Array(v.length);
  const values = new Float32Array(v.length);
  const out = new Uint32Array(values.buffer);
  for (let i = 0; i < v.length; i++) {
    const x = u[i];
    const r = (x + 0x7fff + ((x >>> 16) & 1)) >>> 16;
    raw[i] = r;
    out[i] = r << 16;
  }
  return { values, bytes: new Uint8Array(raw.buffer) };
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
