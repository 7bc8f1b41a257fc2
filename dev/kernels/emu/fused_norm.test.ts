import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { add, rmsNorm } from '../../../src/backends/cpu/ref/basic.js';
import { moeRoute } from '../../../src/backends/cpu/ref/moe.js';
import { CpuTensor } from '../../../src/backends/cpu/ref/tensor.js';
import { CudaTensor } from '../../../src/backends/cuda/tensor.js';
import { gemv1Norm, routeNorm, type DeferredNorm } from '../../../src/backends/cuda/ops/fused-norm.js';
import { randn } from '../../../test/ops/cases.js';
import { relErr, toBf16 } from '../../../test/helpers/numeric.js';
import { emuUnavailable } from './build.js';
import { emuCtx } from './ctx.js';
import { EMU_FLAGS, emuKernels, type EmuKernels } from './emu.js';

// The batch-1 RMSNorm fused into its consumer (ops/fused-norm.ts; stage_norm_row in common.cuh): gemv1_norm_bf16_l12
// and router_topk_norm_bf16 on the CPU emulator against cpu-ref's add -> rmsNorm -> matmul / moeRoute. Checks the
// consumer's result and that block 0 leaves the sum h and the normalised row u as the separate kernels would.
const why = emuUnavailable();
if (why) console.warn(`skipping the CUDA emulator checks: ${why}`);

const EPS = 1e-5;

interface Case {
  a: Float32Array;
  b: Float32Array | null;
  w: Float32Array;
  u: CpuTensor; // cpu-ref rmsNorm(a + b)
  sum: CpuTensor;
}

function makeCase(H: number, withAdd: boolean, seed: number): Case {
  const a = randn(seed, H);
  const b = withAdd ? randn(seed + 1, H, 0.5) : null;
  const w = randn(seed + 2, H);
  const sum = b ? add(new CpuTensor(a, [1, H]), new CpuTensor(b, [1, H])) : new CpuTensor(a, [1, H]);
  return { a, b, w, sum, u: rmsNorm(sum, new CpuTensor(w, [H]), EPS) };
}

function deferred(e: EmuKernels, c: Case, H: number): DeferredNorm {
  return {
    a: e.upload(c.a), b: c.b ? e.upload(c.b) : 0, h: c.b ? e.alloc(H * 4) : 0, w: e.upload(c.w), eps: EPS, H,
    out: new CudaTensor([1, H], 'f32', e.alloc(H * 4), H, 0, null),
  };
}

function expectStaged(e: EmuKernels, n: DeferredNorm, c: Case, H: number): void {
  if (n.h) expect(e.download(n.h, new Float32Array(H))).toEqual(c.sum.data); // the same float32 add
  expect(relErr(e.download(n.out.ptr, new Float32Array(H)), c.u.data)).toBeLessThanOrEqual(1e-5);
}

describe.skipIf(!!why)('fused RMSNorm consumers on the CPU emulator', () => {
  let g: EmuKernels;
  let m: EmuKernels;
  beforeAll(() => {
    g = emuKernels('gemv1.cu');
    m = emuKernels('moe.cu');
  });
  afterAll(() => {
    g?.freeAll();
    m?.freeAll();
  });

  it.each([
    [64, 37, true, 0],
    [2688, 19, true, EMU_FLAGS.reverseBlocks | EMU_FLAGS.reverseThreads],
    [2688, 9, false, 0],
  ])('gemv1_norm_bf16_l12: H %i, M %i, add %s (flags %i)', (H, M, withAdd, flags) => {
    const c = makeCase(H, withAdd, H + M);
    const wq = toBf16(randn(7, M * H, 1 / Math.sqrt(H)));
    const launched: string[] = [];
    const ctx = emuCtx(g, launched, 2); // 2 SMs: fewer blocks than rows, so warps walk several rows
    const n = deferred(g, c, H);
    g.setFlags(flags);
    const y = gemv1Norm(ctx, n, new CudaTensor([M, H], 'bf16', g.upload(wq.raw), H, -1, null));
    expect(launched).toEqual(['gemv1_norm_bf16_l12']);
    const want = Float64Array.from({ length: M }, (_, r) => {
      let s = 0;
      for (let k = 0; k < H; k++) s += wq.values[r * H + k] * c.u.data[k];
      return s;
    });
    expect(relErr(g.download(y!.ptr, new Float32Array(M)), want)).toBeLessThanOrEqual(1e-5);
    expectStaged(g, n, c, H);
  });

  it('gemv1Norm declines a weight whose rows do not match the norm', () => {
    const c = makeCase(64, false, 1);
    const n = deferred(g, c, 64);
    expect(gemv1Norm(emuCtx(g), n, new CudaTensor([8, 128], 'bf16', g.alloc(8 * 128 * 2), 128, -1, null))).toBeNull();
  });

  it.each([
    [2688, 128, 6, true],
    [64, 16, 2, false],
  ])('router_topk_norm_bf16: H %i, %i experts, top-%i, add %s', (H, E, K, withAdd) => {
    const c = makeCase(H, withAdd, E);
    const gate = toBf16(randn(11, E * H, 1 / Math.sqrt(H)));
    const bias = randn(12, E, 0.1);
    const dims = { experts: E, topK: K, nGroup: 1, topkGroup: 1, normTopkProb: true, scale: 2.5 };
    const launched: string[] = [];
    const n = deferred(m, c, H);
    const counter = m.upload(new Int32Array(1));
    const r = routeNorm(
      emuCtx(m, launched), n, new CudaTensor([E, H], 'bf16', m.upload(gate.raw), H, -1, null), new CudaTensor([E], 'f32', m.upload(bias), E, -1, null), dims, counter,
    );
    expect(launched).toEqual(['router_topk_norm_bf16']);
    const want = moeRoute(c.u, new CpuTensor(gate.values, [E, H]), new CpuTensor(bias, [E]), dims);
    const ids = m.download(r!.experts.ptr, new Int32Array(K));
    expect(Array.from(ids)).toEqual(Array.from(want.experts.data));
    expect(relErr(m.download(r!.weights.ptr, new Float32Array(K)), want.weights.data)).toBeLessThanOrEqual(1e-5);
    expect(m.download(counter, new Int32Array(1))[0]).toBe(0); // the last block reset its ticket
    expectStaged(m, n, c, H);
  });
});
