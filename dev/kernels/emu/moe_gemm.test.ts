import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { moeExperts } from '../../../src/backends/cpu/ref/moe.js';
import { CpuTensor } from '../../../src/backends/cpu/ref/tensor.js';
import { moeGroupedExperts, type MoeTile } from '../../../src/backends/cuda/ops/moe-gemm.js';
import { CudaTensor, type CudaCtx } from '../../../src/backends/cuda/tensor.js';
import { randn } from '../../../test/ops/cases.js';
import { emuUnavailable } from './build.js';
import { emuKernels, type EmuKernels } from './emu.js';
import { relErr, toBf16 } from '../../../test/helpers/numeric.js';

// moe_gemm.cu's grouped tensor-core experts (cp.async, ldmatrix, mma.sync m16n8k16 bf16) on the CPU emulator,
// launched by the real host side (ops/moe-gemm.ts on a stand-in context), against cpu-ref's moeExperts. Tiny
// shapes: the K-dims (H, I) are multiples of 8 but not of the tile, so the zero-filled chunk tails are exercised.
const why = emuUnavailable();
if (why) console.warn(`skipping the CUDA emulator checks: ${why}`);

describe.skipIf(!!why)('moe_gemm.cu on the CPU emulator', () => {
  let e: EmuKernels;
  beforeAll(() => {
    e = emuKernels('moe_gemm.cu');
  });
  afterAll(() => e?.freeAll());

  it.each<[MoeTile, boolean, number, number, number, number, number]>([
    ['s', false, 5, 2, 6, 72, 40],
    ['s', true, 5, 2, 6, 72, 40],
    ['m', true, 7, 3, 4, 48, 24],
  ])('tile %s, precise %s: N %i, top-%i of %i experts, H %i, I %i', (tile, precise, N, K, E, H, I) => {
    const x = randn(1, N * H);
    const ids = Int32Array.from({ length: N * K }, (_, p) => ((p % K) * 3 + Math.floor(p / K)) % E); // distinct per token
    const w = Float32Array.from({ length: N * K }, (_, p) => 0.1 + (p % 5) / 5);
    const up = Array.from({ length: E }, (_, j) => toBf16(randn(10 + j, I * H, 1 / Math.sqrt(H))));
    const down = Array.from({ length: E }, (_, j) => toBf16(randn(50 + j, H * I, 1 / Math.sqrt(I))));
    const table = (m: { raw: Uint16Array }[]) => e.upload(BigUint64Array.from(m, (t) => BigInt(e.upload(t.raw))));
    const out = e.alloc(N * H * 4);
    const ctx = { kernels: { launch: e.launch }, blocks: (n: number, per = 256) => Math.max(1, Math.min(Math.ceil(n / per), 2112)) } as unknown as CudaCtx;
    const args = { x: new CudaTensor([N, H], 'f32', e.upload(x), H, -1, null), ids: e.upload(ids), wts: e.upload(w), upTable: table(up), downTable: table(down), out, K, E, I, precise, tile };
    expect(moeGroupedExperts(ctx, args, (bytes) => e.alloc(bytes))).toBe(true);
    const want = moeExperts(
      new CpuTensor(x, [N, H]),
      { experts: new CpuTensor(Float32Array.from(ids), [N, K]), weights: new CpuTensor(w, [N, K]) },
      up.map((u) => new CpuTensor(u.values, [I, H])),
      down.map((d) => new CpuTensor(d.values, [H, I])),
    ).data;
    // bf16 activations (precise: hi + lo halves) against cpu-ref's float32 ones
    expect(relErr(e.download(out, new Float32Array(N * H)), want)).toBeLessThan(precise ? 1e-3 : 1e-2);
  });
});
