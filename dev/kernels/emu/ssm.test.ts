import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ssmScan as refScan } from '../../../src/backends/cpu/ref/mamba.js';
import { CpuTensor } from '../../../src/backends/cpu/ref/tensor.js';
import { ssmScan } from '../../../src/backends/cuda/ops/mamba.js';
import { CudaTensor } from '../../../src/backends/cuda/tensor.js';
import type { Segment, SsmDims } from '../../../src/ops/ops.js';
import { randn } from '../../../test/ops/cases.js';
import { relErr } from '../../../test/helpers/numeric.js';
import { emuUnavailable } from './build.js';
import { emuCtx, emuTensor } from './ctx.js';
import { EMU_FLAGS, emuKernels, type EmuKernels } from './emu.js';

// ssm.cu's three scans on the CPU emulator, launched by the real host side (ops/mamba.ts's ssmScan on a stand-in
// context, which picks the kernel), against cpu-ref's ssmScan: y and every segment's final state, per head.
// ssm_scan_n128: segments of 17, 1 and 22 tokens cross the 16-token staging chunks (cp.async double buffer,
// padding tokens) and the 8-token y reductions; ssm_step_n128: out-of-order one-token segments and a head dim
// that leaves idle warps; ssm_scan: the tiny-model shape, and state 128 behind views the fast kernels refuse.
const why = emuUnavailable();
if (why) console.warn(`skipping the CUDA emulator checks: ${why}`);

interface Case {
  name: string;
  kernel: string;
  heads: number;
  P: number;
  n: number;
  groups: number;
  segments: Segment[];
  /** Extra floats per row of x, dt and B (views with ld > cols: the general kernel's unaligned inputs). */
  pad?: number;
  flags?: number;
}

const seg = (...lens: number[]) => lens.map((length, i) => ({ start: lens.slice(0, i).reduce((a, b) => a + b, 0), length }));

const cases: Case[] = [
  { name: 'prefill, 4 heads x 32, 2 groups, segments 17 / 1 / 22', kernel: 'ssm_scan_n128', heads: 4, P: 32, n: 128, groups: 2, segments: seg(17, 1, 22) },
  { name: 'prefill, 2 heads x 64, 1 group, segments 33 / 5, scheduled in reverse', kernel: 'ssm_scan_n128', heads: 2, P: 64, n: 128, groups: 1, segments: seg(33, 5), flags: EMU_FLAGS.reverseBlocks | EMU_FLAGS.reverseThreads },
  { name: 'decode, 4 heads x 36, 2 groups, 3 sequences out of order', kernel: 'ssm_step_n128', heads: 4, P: 36, n: 128, groups: 2, segments: [{ start: 2, length: 1 }, { start: 0, length: 1 }, { start: 1, length: 1 }] },
  { name: 'general, 8 heads x 8, state 16, 2 groups, segments 2 / 9 / 1', kernel: 'ssm_scan', heads: 8, P: 8, n: 16, groups: 2, segments: seg(2, 9, 1) },
  { name: 'general, state 128 behind unaligned views (ld = cols + 1), segments 4 / 1', kernel: 'ssm_scan', heads: 2, P: 20, n: 128, groups: 1, segments: seg(4, 1), pad: 1 },
];

describe.skipIf(!!why)('ssm.cu on the CPU emulator', () => {
  let e: EmuKernels;
  beforeAll(() => {
    e = emuKernels('ssm.cu');
  });
  afterAll(() => e?.freeAll());

  /** [rows, cols] data as a device view with row stride cols + pad (padding NaN: a read of it shows). */
  const view = (data: Float32Array, rows: number, cols: number, pad: number): CudaTensor => {
    if (!pad) return emuTensor(e, data, [rows, cols]);
    const ld = cols + pad;
    const buf = new Float32Array(rows * ld).fill(NaN);
    for (let r = 0; r < rows; r++) buf.set(data.subarray(r * cols, (r + 1) * cols), r * ld);
    return new CudaTensor([rows, cols], 'f32', e.upload(buf), ld, 0, null);
  };

  it.each(cases)('$name', ({ kernel, heads, P, n, groups, segments, pad = 0, flags = 0 }) => {
    const N = segments.reduce((a, s) => a + s.length, 0);
    const dims: SsmDims = { heads, headDim: P, stateSize: n, groups, dtMin: 0.01, dtMax: 1.2 }; // some dt clamp
    const x = randn(1, N * heads * P);
    const dt = randn(2, N * heads, 1.5);
    const B = randn(3, N * groups * n, 0.3);
    const C = randn(4, N * groups * n, 0.3);
    const aLog = Float32Array.from({ length: heads }, (_, h) => Math.log(0.05 + 0.3 * h)); // slow to fast decay
    const D = randn(5, heads);
    const dtBias = Float32Array.from(randn(6, heads, 0.5), (v) => v - 1);
    const init = segments.map((_, s) => randn(10 + s, heads * P * n, 0.5));

    const launched: string[] = [];
    const ctx = emuCtx(e, launched);
    const states = init.map((s) => emuTensor(e, s, [heads, P, n]));
    e.setFlags(flags);
    const y = ssmScan(
      ctx, view(x, N, heads * P, pad), view(dt, N, heads, pad), view(B, N, groups * n, pad), emuTensor(e, C, [N, groups * n]),
      emuTensor(e, aLog, [heads]), emuTensor(e, D, [heads]), emuTensor(e, dtBias, [heads]), dims, segments, states,
    );
    expect(launched).toEqual([kernel]);

    const cpu = (a: Float32Array, shape: number[]) => new CpuTensor(a.slice(), shape);
    const refStates = init.map((s) => cpu(s, [heads, P, n]));
    const want = refScan(
      cpu(x, [N, heads * P]), cpu(dt, [N, heads]), cpu(B, [N, groups * n]), cpu(C, [N, groups * n]),
      cpu(aLog, [heads]), cpu(D, [heads]), cpu(dtBias, [heads]), dims, segments, refStates,
    ).data;
    const got = e.download(y.ptr, new Float32Array(N * heads * P));
    const gotStates = states.map((s) => e.download(s.ptr, new Float32Array(heads * P * n)));
    for (let h = 0; h < heads; h++) {
      const head = (a: Float32Array) => Float32Array.from({ length: N * P }, (_, i) => a[Math.floor(i / P) * heads * P + h * P + (i % P)]);
      expect(relErr(head(got), head(want)), `y, head ${h}`).toBeLessThanOrEqual(1e-4);
      segments.forEach((_, s) => {
        const part = (a: Float32Array) => a.subarray(h * P * n, (h + 1) * P * n);
        expect(relErr(part(gotStates[s]), part(refStates[s].data)), `state of segment ${s}, head ${h}`).toBeLessThanOrEqual(1e-4);
      });
    }
  });
});
