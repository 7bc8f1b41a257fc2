import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sampleInto, type RowSampling } from '../../../src/backends/cuda/ops/sample.js';
import { CudaTensor, type CudaCtx } from '../../../src/backends/cuda/tensor.js';
import { randn } from '../../../test/ops/cases.js';
import { expected, reference } from '../../../test/cuda/sample-reference.js';
import { emuUnavailable } from './build.js';
import { EMU_FLAGS, emuKernels, type EmuKernels } from './emu.js';

// sample.cu's sample_rows on the CPU emulator, launched by the real host side (ops/sample.ts's sampleInto on a
// stand-in context), against the float64 reference of the GPU test (test/cuda/sample.test.ts): each draw is the
// id-ordered inverse CDF, over the tokens the host sampler's filters keep, at the row's u.
const why = emuUnavailable();
if (why) console.warn(`skipping the CUDA emulator checks: ${why}`);

const base: RowSampling = { temperature: 1, topK: 0, topP: 1, minP: 0, u: 0 };

describe.skipIf(!!why)('sample.cu on the CPU emulator', () => {
  let e: EmuKernels;
  beforeAll(() => {
    e = emuKernels('sample.cu');
  });
  afterAll(() => e?.freeAll());

  /** Draws one token per row of `logits` ([rows.length, V]) through sampleInto and the emulated kernel. */
  function sample(logits: Float32Array, V: number, rows: RowSampling[]): Int32Array {
    const ctx = {
      live() {},
      contig: (t: CudaTensor) => t,
      dev: { meta: { f32: (a: Float32Array) => e.upload(a), i32: (a: Int32Array) => e.upload(a) } },
      kernels: { launch: e.launch },
    } as unknown as CudaCtx;
    const out = e.alloc(rows.length * 4);
    sampleInto(ctx, new CudaTensor([rows.length, V], 'f32', e.upload(logits), V, -1, null), rows, out);
    return e.download(out, new Int32Array(rows.length));
  }

  it.each<[string, Partial<RowSampling>, number]>([
    ['temperature 0.7, top-k 50', { temperature: 0.7, topK: 50 }, 0],
    ['temperature 1.3, top-p 0.8, threads scheduled in reverse', { temperature: 1.3, topP: 0.8 }, EMU_FLAGS.reverseThreads],
    ['temperature 0.8, top-k 200, top-p 0.9, min-p 0.02', { temperature: 0.8, topK: 200, topP: 0.9, minP: 0.02 }, 0],
    ['temperature 0 (greedy)', { temperature: 0 }, 0],
  ])('%s: draws at 4 values of u over 3000 logits follow the kept distribution', (_n, over, flags) => {
    const V = 3000;
    const logits = randn(7, V, 2);
    logits[5] = NaN; // never drawn
    logits[6] = -Infinity;
    const us = [0.0001, 0.3, 0.61, 0.999];
    const rows = us.map((u) => ({ ...base, ...over, u }));
    const x = new Float32Array(rows.length * V);
    rows.forEach((_, r) => x.set(logits, r * V));
    e.setFlags(flags);
    const got = sample(x, V, rows);
    rows.forEach((s, r) => {
      const want = expected(reference(logits, s), s.u);
      if (!want.near) expect(got[r], `u ${s.u}`).toBe(want.id);
    });
  });
});
