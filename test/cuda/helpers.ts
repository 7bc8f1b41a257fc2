/** Shared by the CUDA tests: whether a GPU is here (and why not), one backend per test file, bf16 helpers. */
import { describe, expect, vi } from 'vitest';
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

import { relErr } from '../helpers/numeric.js';

export { relErr, toBf16 } from '../helpers/numeric.js';

/**
 * relErr per head (slow heads have far smaller values than fast ones, so one max over all heads would hide their
 * errors). `rowLen` floats per row, head h owns [h * w, (h + 1) * w) of each row (y: w = p; a state: one row).
 */
export function expectPerHead(got: Float32Array, want: Float32Array, heads: number, rowLen: number, what: string, tol: number): void {
  expect(got.length, what).toBe(want.length);
  const w = rowLen / heads;
  let worst = 0;
  let at = -1;
  for (let h = 0; h < heads; h++) {
    const pick = (a: Float32Array) => {
      const out = new Float32Array((a.length / rowLen) * w);
      for (let r = 0; r * rowLen < a.length; r++) out.set(a.subarray(r * rowLen + h * w, r * rowLen + (h + 1) * w), r * w);
      return out;
    };
    const e = relErr(pick(got), pick(want));
    if (!(e <= worst)) [worst, at] = [e, h];
  }
  expect(worst, `${what}: relative error ${worst} (head ${at})`).toBeLessThanOrEqual(tol);
}

/** Kernels launched by `fn` (by name). */
export function launched<R>(g: CudaBackend, fn: () => R): { r: R; names: string[] } {
  const spy = vi.spyOn(g.kernels, 'launch');
  try {
    const r = fn();
    return { r, names: spy.mock.calls.map((c) => c[0]) };
  } finally {
    spy.mockRestore();
  }
}
