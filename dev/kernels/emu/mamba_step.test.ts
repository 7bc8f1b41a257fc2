import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { splitCols } from '../../../src/backends/cpu/ref/basic.js';
import { gatedRmsNorm, mambaConv, ssmScan } from '../../../src/backends/cpu/ref/mamba.js';
import { CpuTensor } from '../../../src/backends/cpu/ref/tensor.js';
import { mambaMixerStep } from '../../../src/backends/cuda/ops/mamba-step.js';
import type { CudaCtx, CudaTensor } from '../../../src/backends/cuda/tensor.js';
import type { MambaMixerParams, MambaState, Segment, SsmDims } from '../../../src/ops/ops.js';
import { randn } from '../../../test/ops/cases.js';
import { relErr } from '../../../test/helpers/numeric.js';
import { emuUnavailable } from './build.js';
import { emuCtx, emuTensor } from './ctx.js';
import { EMU_FLAGS, emuKernels, type EmuKernels } from './emu.js';

// mamba_step.cu (the fused decode step) on the CPU emulator, launched by the real host op (ops/mamba-step.ts on a
// stand-in context), against cpu-ref's composition mambaConv -> ssmScan -> gatedRmsNorm: the output and every
// row's conv and ssm states, over two steps in a row (the second needs the tickets the first reset, and starts
// from the states the first wrote). Shapes: the Nano's mixer, a head dim that leaves idle warps with two heads per
// group, one head per group (every block is its group's last) with the widest conv, and the narrowest conv.
const why = emuUnavailable();
if (why) console.warn(`skipping the CUDA emulator checks: ${why}`);

interface Shape {
  heads: number;
  P: number;
  groups: number;
  K: number;
}
const NANO: Shape = { heads: 64, P: 64, groups: 8, K: 4 };
const SMALL: Shape = { heads: 4, P: 36, groups: 2, K: 3 };
const WIDE_K: Shape = { heads: 2, P: 64, groups: 2, K: 8 };
const NARROW_K: Shape = { heads: 8, P: 16, groups: 2, K: 2 };
const n = 128;

interface Case {
  name: string;
  shape: Shape;
  N: number;
  bias: boolean;
  flags?: number;
}
const cases: Case[] = [
  { name: 'Nano shape, 1 row, conv bias', shape: NANO, N: 1, bias: true },
  { name: 'Nano shape, 3 rows, no conv bias', shape: NANO, N: 3, bias: false },
  { name: '4 heads x 36, 2 groups, K 3, 1 row, no conv bias', shape: SMALL, N: 1, bias: false },
  { name: '4 heads x 36, 2 groups, K 3, 3 rows, conv bias, scheduled in reverse', shape: SMALL, N: 3, bias: true, flags: EMU_FLAGS.reverseBlocks | EMU_FLAGS.reverseThreads },
  { name: '2 heads x 64, 2 groups (one head each), K 8, 3 rows, conv bias', shape: WIDE_K, N: 3, bias: true },
  { name: '8 heads x 16, 2 groups, K 2 (a one-column conv state), 2 rows, no conv bias', shape: NARROW_K, N: 2, bias: false },
];

const decode = (N: number): Segment[] => Array.from({ length: N }, (_, i) => ({ start: i, length: 1 }));
const cpu = (a: Float32Array, shape: readonly number[]) => new CpuTensor(a.slice(), shape);

/** The mixer's weights as float32 arrays (a slow-to-fast decay spread, dt biases that hit both clamps). */
function weights(s: Shape, bias: boolean, seed: number) {
  const dInner = s.heads * s.P;
  const convDim = dInner + 2 * s.groups * n;
  return {
    dInner, convDim,
    convW: randn(seed, convDim * s.K, 0.5),
    convB: bias ? randn(seed + 1, convDim, 0.3) : null,
    aLog: Float32Array.from({ length: s.heads }, (_, h) => Math.log(0.05 + (3 * h) / s.heads)),
    d: randn(seed + 2, s.heads),
    dtBias: Float32Array.from(randn(seed + 3, s.heads, 0.5), (v) => v - 1),
    normW: Float32Array.from(randn(seed + 4, dInner, 0.2), (v) => v + 1),
  };
}

describe.skipIf(!!why)('mamba_step.cu on the CPU emulator', () => {
  let e: EmuKernels;
  beforeAll(() => {
    e = emuKernels('mamba_step.cu');
  });
  afterAll(() => e?.freeAll());

  /** The op's inputs on the emulator and the same on the CPU; `params` builds MambaMixerParams for either. */
  function setup(s: Shape, N: number, bias: boolean) {
    const w = weights(s, bias, 1);
    const dims: SsmDims = { heads: s.heads, headDim: s.P, stateSize: n, groups: s.groups, dtMin: 0.01, dtMax: 1.2 };
    const params = <T extends CudaTensor | CpuTensor>(t: (a: Float32Array, shape: number[]) => T): MambaMixerParams<T> => ({
      dims, dInner: w.dInner, convDim: w.convDim, convW: t(w.convW, [w.convDim, s.K]), convB: w.convB ? t(w.convB, [w.convDim]) : null,
      aLog: t(w.aLog, [s.heads]), d: t(w.d, [s.heads]), dtBias: t(w.dtBias, [s.heads]), normW: t(w.normW, [w.dInner]),
      normGroupSize: w.dInner / s.groups, eps: 1e-5,
    });
    const convInit = Array.from({ length: N }, (_, r) => randn(100 + r, w.convDim * (s.K - 1)));
    const ssmInit = Array.from({ length: N }, (_, r) => randn(200 + r, s.heads * s.P * n, 0.5));
    const dev: MambaState<CudaTensor>[] = convInit.map((cs, r) => ({ conv: emuTensor(e, cs, [w.convDim, s.K - 1]), ssm: emuTensor(e, ssmInit[r], [s.heads, s.P, n]) }));
    const ref: MambaState<CpuTensor>[] = convInit.map((cs, r) => ({ conv: cpu(cs, [w.convDim, s.K - 1]), ssm: cpu(ssmInit[r], [s.heads, s.P, n]) }));
    return { w, dims, devParams: params((a, shape) => emuTensor(e, a, shape)), refParams: params(cpu), dev, ref, width: w.dInner + w.convDim + s.heads };
  }

  /** cpu-ref's composition, as the model's mambaCore runs it. */
  function reference(proj: CpuTensor, p: MambaMixerParams<CpuTensor>, segments: Segment[], states: MambaState<CpuTensor>[]): Float32Array {
    const gn = p.dims.groups * p.dims.stateSize;
    const [z, xBC, dt] = splitCols(proj, [p.dInner, p.convDim, p.dims.heads]);
    const conv = mambaConv(xBC, p.convW, p.convB, segments, states.map((s) => s.conv));
    const [x, B, C] = splitCols(conv, [p.dInner, gn, gn]);
    const y = ssmScan(x, dt, B, C, p.aLog, p.d, p.dtBias, p.dims, segments, states.map((s) => s.ssm));
    return gatedRmsNorm(y, z, p.normW, p.normGroupSize, p.eps).data;
  }

  it.each(cases)('$name: output and states over two steps', ({ shape, N, bias, flags = 0 }) => {
    const { w, devParams, refParams, dev, ref, width } = setup(shape, N, bias);
    const launched: string[] = [];
    const ctx: CudaCtx = emuCtx(e, launched);
    e.setFlags(flags);
    const segments = decode(N);
    for (let step = 0; step < 2; step++) {
      const proj = randn(300 + step, N * width);
      for (let r = 0; r < N; r++) {
        const dt = randn(400 + 10 * step + r, shape.heads, 1.5); // raw dt: some below dtMin, some above dtMax after softplus
        proj.set(dt, r * width + w.dInner + w.convDim);
      }
      const out = mambaMixerStep(ctx, emuTensor(e, proj, [N, width]), devParams, segments, dev);
      expect(out, 'the fused step applies').not.toBeNull();
      const want = reference(cpu(proj, [N, width]), refParams, segments, ref);
      expect(relErr(e.download(out!.ptr, new Float32Array(N * w.dInner)), want), `output, step ${step}`).toBeLessThanOrEqual(1e-4);
      dev.forEach((s, r) => {
        const conv = e.download(s.conv.ptr, new Float32Array(s.conv.numel));
        const ssm = e.download(s.ssm.ptr, new Float32Array(s.ssm.numel));
        expect(conv, `conv state of row ${r}, step ${step}`).toEqual(ref[r].conv.data); // a shift: exact
        expect(relErr(ssm, ref[r].ssm.data), `ssm state of row ${r}, step ${step}`).toBeLessThanOrEqual(1e-5);
      });
    }
    e.setFlags(0);
    expect(launched).toEqual(['mamba_step', 'mamba_step']);
  });

  it('declines prefill and mixed steps (null, nothing launched)', () => {
    const N = 3;
    const { devParams, dev, width } = setup(SMALL, N, true);
    const launched: string[] = [];
    const ctx = emuCtx(e, launched);
    const proj = emuTensor(e, randn(7, N * width), [N, width]);
    expect(mambaMixerStep(ctx, proj, devParams, [{ start: 0, length: 3 }], dev.slice(0, 1))).toBeNull();
    expect(mambaMixerStep(ctx, proj, devParams, [{ start: 0, length: 2 }, { start: 2, length: 1 }], dev.slice(0, 2))).toBeNull();
    expect(mambaMixerStep(ctx, proj, devParams, [{ start: 1, length: 1 }, { start: 0, length: 1 }, { start: 2, length: 1 }], dev)).toBeNull();
    expect(launched).toEqual([]);
  });
});
