import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randn } from '../../../test/ops/cases.js';
import { relErr, toBf16 } from '../../../test/helpers/numeric.js';
import { emuUnavailable } from './build.js';
import { EMU_FLAGS, emuKernels, type EmuKernels } from './emu.js';

// gemv1.cu's persistent batch-1 GEMVs on the CPU emulator against float64 references: gemv1_bf16_l12
// (y = W x, bf16 W) and moe_up1_l12 (shared expert rows, then routed experts' rows, relu^2). Grids of a few blocks
// so each warp walks several rows (the prefetch of the next row while reducing the current one is exercised).
const why = emuUnavailable();
if (why) console.warn(`skipping the CUDA emulator checks: ${why}`);

/** float64 dot of bf16-rounded weight row r (of K) with x. */
function dot(w: Float32Array, r: number, x: Float32Array, K: number): number {
  let s = 0;
  for (let k = 0; k < K; k++) s += w[r * K + k] * x[k];
  return s;
}

describe.skipIf(!!why)('gemv1.cu on the CPU emulator', () => {
  let e: EmuKernels;
  beforeAll(() => {
    e = emuKernels('gemv1.cu');
  });
  afterAll(() => e?.freeAll());

  it.each([
    [64, 37, 2, 0],
    [264, 19, 1, 0],
    [1024, 21, 3, EMU_FLAGS.reverseBlocks | EMU_FLAGS.reverseThreads],
  ])('gemv1_bf16_l12: K %i, M %i, %i blocks, scheduling flags %i', (K, M, blocks, flags) => {
    const x = randn(K, K);
    const w = toBf16(randn(M + 1, M * K, 1 / Math.sqrt(K)));
    const y = e.alloc(M * 4);
    e.setFlags(flags);
    e.launch('gemv1_bf16_l12', blocks, 128, [e.upload(x), e.upload(w.raw), y, K, M, 2], K * 4);
    const want = Float64Array.from({ length: M }, (_, r) => dot(w.values, r, x, K));
    expect(relErr(e.download(y, new Float32Array(M)), want)).toBeLessThan(1e-5);
  });

  it('moe_up1_l12: shared expert and 3 routed experts of 5, relu^2', () => {
    const [H, I, Is, E] = [128, 24, 16, 5];
    const ids = Int32Array.from([4, 0, 2]);
    const K = ids.length;
    const x = randn(1, H);
    const up = Array.from({ length: E }, (_, j) => toBf16(randn(10 + j, I * H, 1 / Math.sqrt(H))));
    const shared = toBf16(randn(9, Is * H, 1 / Math.sqrt(H)));
    const table = BigUint64Array.from(up, (u) => BigInt(e.upload(u.raw)));
    const act = e.alloc((Is + K * I) * 4);
    e.setFlags(0);
    e.launch('moe_up1_l12', 2, 128, [e.upload(x), e.upload(ids), e.upload(table), e.upload(shared.raw), act, K, H, I, Is, 1, E], H * 4);
    const relu2 = (v: number) => (v > 0 ? v * v : 0);
    const want = new Float64Array(Is + K * I);
    for (let r = 0; r < Is; r++) want[r] = relu2(dot(shared.values, r, x, H));
    for (let k = 0; k < K; k++) for (let i = 0; i < I; i++) want[Is + k * I + i] = relu2(dot(up[ids[k]].values, i, x, H));
    expect(relErr(e.download(act, new Float32Array(want.length)), want)).toBeLessThan(1e-5);
  });

  it.each([
    [[37, 8, 8], 0],
    [[21, 6], EMU_FLAGS.reverseBlocks | EMU_FLAGS.reverseThreads],
  ])('gemv1x3_bf16_l12: rows %j of three (or two) weights in one launch (flags %i)', (Ms, flags) => {
    const K = 264;
    const x = randn(90, K);
    const ws = Ms.map((M, i) => toBf16(randn(91 + i, M * K, 1 / Math.sqrt(K))));
    const ys = Ms.map((M) => e.alloc(M * 4));
    e.setFlags(flags);
    const ptrs = ws.map((w) => e.upload(w.raw));
    e.launch('gemv1x3_bf16_l12', 3, 128, [e.upload(x), ptrs[0], ptrs[1], ptrs[2] ?? null, ys[0], ys[1], ys[2] ?? null, Ms[0], Ms[1], Ms[2] ?? 0, K, 1], K * 4);
    e.setFlags(0);
    Ms.forEach((M, i) => {
      const want = Float64Array.from({ length: M }, (_, r) => dot(ws[i].values, r, x, K));
      expect(relErr(e.download(ys[i], new Float32Array(M)), want)).toBeLessThan(1e-5);
    });
  });
});
