import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randn } from '../../../test/ops/cases.js';
import { relErr, toBf16 } from '../../../test/helpers/numeric.js';
import { emuUnavailable } from './build.js';
import { EMU_FLAGS, emuKernels, type EmuKernels } from './emu.js';

// gemv.cu's one-row bf16 GEMVs on the CPU emulator: gemv_bf16_n1 (a warp per row, the row in registers) and
// gemv_bf16_n1_hy (half the row in registers, half through a cp.async shared-memory slot) against a float64
// reference, and against each other bit for bit (the same products in the same order); so must gemv_bf16_n1w
// (gemv_bf16_n1 that pulls a second wave's rows into L2). Rows longer than 2048 columns use the slot; shorter ones
// do not; rows that leave lanes idle.
const why = emuUnavailable();
if (why) console.warn(`skipping the CUDA emulator checks: ${why}`);

describe.skipIf(!!why)('gemv.cu on the CPU emulator', () => {
  let e: EmuKernels;
  beforeAll(() => {
    e = emuKernels('gemv.cu');
  });
  afterAll(() => e?.freeAll());

  it.each([
    [4096, 37, 0],
    [3080, 19, EMU_FLAGS.reverseThreads],
    [1024, 11, 0],
    [2056, 9, EMU_FLAGS.reverseBlocks],
  ])('gemv_bf16_n1_hy: K %i, M %i (flags %i): float64 reference, and the bits of gemv_bf16_n1', (K, M, flags) => {
    const xv = randn(K + 1, K);
    const w = toBf16(randn(K + M, M * K, 1 / Math.sqrt(K)));
    const x = e.upload(xv);
    const W = e.upload(w.raw);
    const want = Float64Array.from({ length: M }, (_, r) => {
      let s = 0;
      for (let k = 0; k < K; k++) s += w.values[r * K + k] * xv[k];
      return s;
    });
    e.setFlags(flags);
    const y0 = e.alloc(M * 4);
    e.launch('gemv_bf16_n1', Math.ceil(M / 8), 256, [x, K, W, y0, M, 1, K, M]);
    const y1 = e.alloc(M * 4);
    e.launch('gemv_bf16_n1_hy', Math.ceil(M / 8), 256, [x, W, y1, K, M], 8 * 4096);
    // the two-wave form (the first wave pulls row m + ahead into L2 after its wait; ahead M: none): the same bits
    const yw = [e.alloc(M * 4), e.alloc(M * 4)];
    e.launch('gemv_bf16_n1w', Math.ceil(M / 8), 256, [x, W, yw[0], K, M, 8]);
    e.launch('gemv_bf16_n1w', Math.ceil(M / 8), 256, [x, W, yw[1], K, M, M]);
    e.setFlags(0);
    const a = e.download(y0, new Float32Array(M));
    const b = e.download(y1, new Float32Array(M));
    expect(relErr(b, want)).toBeLessThan(1e-5);
    const bits = (v: Float32Array) => Array.from(new Uint32Array(v.buffer));
    expect(bits(b)).toEqual(bits(a));
    for (const y of yw) expect(bits(e.download(y, new Float32Array(M)))).toEqual(bits(a));
  });
});
