import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { moeDown1Kernel, moeDown1Res } from '../../../src/backends/cuda/ops/moe-down1.js';
import { CudaTensor } from '../../../src/backends/cuda/tensor.js';
import { randn } from '../../../test/ops/cases.js';
import { relErr, toBf16 } from '../../../test/helpers/numeric.js';
import { emuUnavailable } from './build.js';
import { emuCtx } from './ctx.js';
import { EMU_FLAGS, emuKernels, type EmuKernels } from './emu.js';
import { moeDown1Reference } from '../../../test/helpers/moe-down1-reference.js';

// moe_down1.cu's moe_down1_res (shared + routed down projections, weighted sum and residual add in one launch) on
// the CPU emulator against a float64 reference of the formula: small shapes (rows that leave lanes idle, S = 0,
// K = 0, 1 and 3 slots), every variant, and the real Nano shape (H 2688, I 1856, Is 3712, top-6 of 8 experts)
// through ops/moe-down1.ts; with a residual, without, and in place (resid == out). Grids of a few blocks make each
// warp walk several outputs, so the next-row loads and the prefetches cross from one output to the next.
const why = emuUnavailable();
if (why) console.warn(`skipping the CUDA emulator checks: ${why}`);

interface Problem {
  H: number;
  I: number;
  S: number;
  ids: Int32Array; // [K]
  wts: Float32Array; // [K]
  act: Float32Array; // [S I + K I]
  downS: Float32Array; // [H, S I], bf16-rounded values
  downSRaw: Uint16Array;
  /** Expert e's down projection [H, I] (bf16 values) is all.values from row 8 e: windows of one matrix. */
  all: { values: Float32Array; raw: Uint16Array };
  resid: Float32Array; // [H]
}

function problem(H: number, I: number, S: number, ids: number[], E: number, seed: number): Problem {
  const K = ids.length;
  const all = toBf16(randn(seed, (H + 8 * (E - 1)) * I, 1 / Math.sqrt(I)));
  const downS = toBf16(randn(seed + 1, H * S * I, 1 / Math.sqrt(S * I)));
  // relu^2 activations are >= 0
  const act = randn(seed + 2, (S + K) * I).map((v) => v * v);
  return {
    H, I, S, ids: Int32Array.from(ids), wts: Float32Array.from(ids, (_, k) => 0.1 + 0.37 * ((k * 7 + seed) % 5)), act,
    downS: downS.values, downSRaw: downS.raw, all, resid: randn(seed + 3, H, 2),
  };
}

/** moeDown1Reference over this problem's bf16-rounded expert rows. */
const reference = (p: Problem, withResid: boolean) => moeDown1Reference({ ...p, all: p.all.values }, withResid);

describe.skipIf(!!why)('moe_down1.cu on the CPU emulator', () => {
  let e: EmuKernels;
  beforeAll(() => {
    e = emuKernels('moe_down1.cu');
  });
  afterAll(() => e?.freeAll());

  /** Device copies of a problem: act, ids, wts, pointer table (E experts), downS, resid. */
  function upload(p: Problem, E: number) {
    const allP = e.upload(p.all.raw);
    const table = BigUint64Array.from({ length: E }, (_, x) => BigInt(allP + 8 * x * p.I * 2));
    return {
      act: e.upload(p.act), ids: e.upload(p.ids), wts: e.upload(p.wts), table: e.upload(table),
      downS: p.S ? e.upload(p.downSRaw) : e.alloc(16), resid: e.upload(p.resid),
    };
  }

  it.each([
    // kernel, H, I, S, ids, blocks, flags
    ['moe_down1_res_l8', 37, 40, 2, [3, 0, 5], 2, 0],
    ['moe_down1_res_l8', 37, 40, 2, [3, 0, 5], 3, EMU_FLAGS.reverseBlocks | EMU_FLAGS.reverseThreads],
    ['moe_down1_res_l8', 50, 264, 1, [2], 1, 0],
    ['moe_down1_res_l8', 19, 24, 3, [], 2, 0], // shared expert only
    ['moe_down1_res_l8', 21, 2048, 0, [1, 4], 2, EMU_FLAGS.reverseThreads], // routed only: the first row after pdl_wait
    ['moe_down1_res_l8_pf0', 37, 40, 2, [3, 0, 5], 2, 0],
    ['moe_down1_res_l8_pf2', 37, 40, 2, [3, 0, 5], 3, EMU_FLAGS.reverseBlocks],
    ['moe_down1_res_l12', 13, 2056, 2, [5, 1, 2, 0], 2, 0], // 257 loads per row: the 12th round has one lane
    ['moe_down1_res_l8_hy', 37, 40, 2, [3, 0, 5], 2, EMU_FLAGS.reverseThreads], // odd rows through the smem slot
    ['moe_down1_res_l8_hy', 50, 264, 1, [2, 4], 1, 0], // 3 rows per output: the pairs straddle outputs
    ['moe_down1_res_l8_hy', 19, 24, 3, [], 2, EMU_FLAGS.reverseBlocks], // shared expert only
    ['moe_down1_res_l8_hy', 21, 2048, 0, [1, 4], 2, 0], // routed only: both first rows after pdl_wait
    ['moe_down1_res_l8_hy', 9, 16, 0, [], 1, 0], // no rows: out = resid
    ['moe_down1_res_l8_rots', 37, 40, 2, [3, 0, 5], 2, EMU_FLAGS.reverseThreads], // shared chunks rotated only
    ['moe_down1_res_l8_rots', 19, 24, 3, [], 2, 0], // shared expert only
    ['moe_down1_res_l8_rots', 50, 264, 1, [2, 4], 1, EMU_FLAGS.reverseBlocks | EMU_FLAGS.reverseThreads], // several outputs per warp
    ['moe_down1_res_l8_rots', 21, 2048, 0, [1, 4], 2, 0], // routed only
  ] as const)('%s: H %i, I %i, S %i, slots %j, %i blocks, flags %i', (kernel, H, I, S, ids, blocks, flags) => {
    const E = 6;
    const p = problem(H, I, S, [...ids], E, H + I + S);
    const d = upload(p, E);
    const K = ids.length;
    e.setFlags(flags);
    for (const withResid of [true, false]) {
      const out = e.alloc(H * 4);
      e.launch(kernel, blocks, 128, [d.act, d.ids, d.wts, d.table, d.downS, withResid ? d.resid : null, out, K, S, H, I, S * I, null], kernel.endsWith('_hy') ? 4 * 8 * 512 : 0);
      const got = e.download(out, new Float32Array(H));
      const err = relErr(got, reference(p, withResid));
      expect(err, `resid ${withResid}: relative error ${err}`).toBeLessThanOrEqual(1e-5);
    }
    e.setFlags(0);
  });

  it('moe_down1_res_l8_rots gives the bits of moe_down1_res_l8_pf0 (rows summed in the canonical order)', () => {
    const [H, I, S, ids, E] = [45, 48, 2, [4, 1, 5, 0], 6];
    const p = problem(H, I, S, ids, E, 77);
    const d = upload(p, E);
    const run = (kernel: string) => {
      const out = e.alloc(H * 4);
      e.launch(kernel, 3, 128, [d.act, d.ids, d.wts, d.table, d.downS, d.resid, out, ids.length, S, H, I, S * I, null]);
      return new Uint32Array(e.download(out, new Float32Array(H)).buffer);
    };
    const a = run('moe_down1_res_l8_pf0');
    expect(relErr(new Float32Array(a.buffer), reference(p, true))).toBeLessThanOrEqual(1e-5);
    expect(Array.from(run('moe_down1_res_l8_rots'))).toEqual(Array.from(a));
  });

  it.each([
    // multiprocessors (the op's grid: min(H / 4, 6 per SM)), flags
    [132, 0], // 672 blocks: one output per warp
    [1, EMU_FLAGS.reverseBlocks | EMU_FLAGS.reverseThreads], // 6 blocks: 24 warps walk 112 outputs each
  ])('the Nano shape through ops/moe-down1.ts (H 2688, I 1856, Is 3712, top-6 of 8): %i SMs, flags %i', (sms, flags) => {
    const [H, I, S, E] = [2688, 1856, 2, 8];
    const p = problem(H, I, S, [7, 2, 0, 5, 3, 6], E, 11);
    const d = upload(p, E);
    const launched: string[] = [];
    const c = emuCtx(e, launched, sms);
    const downS = new CudaTensor([H, S * I], 'bf16', d.downS, S * I, -1, null);
    e.setFlags(flags);
    const withResid = reference(p, true);
    const out = e.alloc(H * 4);
    const call = (resid: number | null, o: number) =>
      expect(moeDown1Res(c, { act: d.act, ids: d.ids, wts: d.wts, downTable: d.table, downS, resid, out: o, K: 6, I })).toBe(true);
    call(d.resid, out);
    expect(relErr(e.download(out, new Float32Array(H)), withResid)).toBeLessThanOrEqual(1e-5);
    call(null, out);
    expect(relErr(e.download(out, new Float32Array(H)), reference(p, false))).toBeLessThanOrEqual(1e-5);
    // in place: the residual stream itself as out
    const h = e.upload(p.resid);
    call(h, h);
    expect(relErr(e.download(h, new Float32Array(H)), withResid)).toBeLessThanOrEqual(1e-5);
    expect(launched).toEqual(['moe_down1_res_l8_rots', 'moe_down1_res_l8_rots', 'moe_down1_res_l8_rots']); // the default: shared chunks rotated
    e.setFlags(0);
  });

  it('the op declines shapes the kernel does not take', () => {
    const c = emuCtx(e);
    const t = (H: number, Is: number, dtype: 'bf16' | 'f32' = 'bf16', ptr = 256) => new CudaTensor([H, Is], dtype, ptr, Is, -1, null);
    const base = { act: 256, ids: 0, wts: 0, downTable: 0, resid: null, out: 0, K: 6 };
    expect(moeDown1Res(c, { ...base, downS: t(64, 80), I: 36 })).toBe(false); // I % 8
    expect(moeDown1Res(c, { ...base, downS: t(64, 100), I: 40 })).toBe(false); // Is not a multiple of I
    expect(moeDown1Res(c, { ...base, downS: t(64, 80), I: 40, act: 260 })).toBe(false); // act not 16-byte aligned
    expect(moeDown1Res(c, { ...base, downS: t(64, 80, 'f32'), I: 40 })).toBe(false);
    expect(moeDown1Res(c, { ...base, downS: t(64, 6144), I: 3072, K: 33 })).toBe(false); // K > 32
    expect(moeDown1Res(c, { ...base, downS: t(64, 6160), I: 3080 })).toBe(false); // rows over 3072
  });

  it('the default kernel, and NEMOTRON_CUDA_MOE_DOWN1_PF picks the canonical-order prefetch variants (8-load rows only)', () => {
    const saved = process.env.NEMOTRON_CUDA_MOE_DOWN1_PF;
    try {
      process.env.NEMOTRON_CUDA_MOE_DOWN1_PF = '2';
      expect([moeDown1Kernel(8), moeDown1Kernel(12)]).toEqual(['moe_down1_res_l8_pf2', 'moe_down1_res_l12']);
      process.env.NEMOTRON_CUDA_MOE_DOWN1_PF = '0';
      expect(moeDown1Kernel(8)).toBe('moe_down1_res_l8_pf0');
      process.env.NEMOTRON_CUDA_MOE_DOWN1_PF = '1';
      expect(moeDown1Kernel(8)).toBe('moe_down1_res_l8');
      delete process.env.NEMOTRON_CUDA_MOE_DOWN1_PF;
      expect(moeDown1Kernel(8)).toBe('moe_down1_res_l8_rots'); // the default
      expect(moeDown1Kernel(8, 33)).toBe('moe_down1_res_l8_pf0'); // more rows per output than lanes
    } finally {
      if (saved === undefined) delete process.env.NEMOTRON_CUDA_MOE_DOWN1_PF;
      else process.env.NEMOTRON_CUDA_MOE_DOWN1_PF = saved;
    }
  });
});
