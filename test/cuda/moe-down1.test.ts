import { expect, it } from 'vitest';
import type { CudaBackend } from '../../src/backends/cuda/backend.js';
import { pointerTable } from '../../src/backends/cuda/ops/moe.js';
import { moeDown1Grid, moeDown1Res, type MoeDown1Args } from '../../src/backends/cuda/ops/moe-down1.js';
import type { Dim } from '../../src/backends/cuda/launch.js';
import { CudaTensor, type CudaCtx } from '../../src/backends/cuda/tensor.js';
import { randn } from '../ops/cases.js';
import { describeCuda, gpu, launched, relErr, toBf16 } from './helpers.js';
import { moeDown1Reference } from '../helpers/moe-down1-reference.js';

// ops/moe-down1.ts (kernels/moe_down1.cu: the batch-1 MoE tail, out = resid + (routed + shared), in one launch) on
// the device: at the real Nano shape (H 2688, I 1856, Is 3712, top-6 of 128 experts) against a float64 host
// reference and against the three launches it replaces (moe_down1_l8 + moe_combine1 + add_f32), with a residual,
// without, and in place; its prefetch variants give the same bits; act and resid written by the kernel launched
// just before (PDL lets moe_down1_res start while that one drains); the 12-load variant at rows over 2048.

interface Setup {
  H: number;
  I: number;
  S: number;
  K: number;
  ids: Int32Array; // [K]
  wts: Float32Array; // [K]
  act: Float32Array; // [S I + K I]
  resid: Float32Array; // [H]
  downS: Float32Array; // [H, S I] bf16 values
  all: Float32Array; // expert e's down [H, I] = rows [8 e, 8 e + H) of this [H + 8 (E - 1), I] matrix (bf16 values)
  dev: { act: CudaTensor; ids: CudaTensor; wts: CudaTensor; resid: CudaTensor; downS: CudaTensor; all: CudaTensor; table: number };
}

/** E distinct experts without E host copies: windows 8 rows apart of one random matrix (as moe-gemm.test.ts). */
function setup(g: CudaBackend, H: number, I: number, S: number, E: number, ids: number[], seed: number): Setup {
  const K = ids.length;
  const all = toBf16(randn(seed, (H + 8 * (E - 1)) * I, 1 / Math.sqrt(I)));
  const downS = toBf16(randn(seed + 1, H * S * I, 1 / Math.sqrt(S * I)));
  const act = randn(seed + 2, (S + K) * I).map((v) => v * v); // relu^2 activations
  const resid = randn(seed + 3, H, 2);
  const wts = Float32Array.from(ids, (_, k) => 0.05 + 0.31 * ((k * 5 + 3) % 7));
  const allT = g.fromBytes(all.bytes, 'BF16', [H + 8 * (E - 1), I]);
  const downST = g.fromBytes(downS.bytes, 'BF16', [H, S * I]);
  expect([allT.dtype, downST.dtype]).toEqual(['bf16', 'bf16']);
  const idsT = g.persistent([K], 'i32');
  g.dev.upload(idsT.ptr, Int32Array.from(ids));
  const table = pointerTable(g, Array.from({ length: E }, (_, e) => new CudaTensor([H, I], 'bf16', allT.ptr + 8 * e * I * 2, I, -1, null)));
  return {
    H, I, S, K, ids: Int32Array.from(ids), wts, act, resid, downS: downS.values, all: all.values,
    dev: { act: g.fromFloat32(act, [act.length]), ids: idsT, wts: g.fromFloat32(wts, [K]), resid: g.fromFloat32(resid, [H]), downS: downST, all: allT, table },
  };
}

function release(g: CudaBackend, s: Setup): void {
  for (const t of [s.dev.act, s.dev.ids, s.dev.wts, s.dev.resid, s.dev.downS, s.dev.all]) g.release(t);
}

const reference = (s: Setup, withResid: boolean) => moeDown1Reference(s, withResid);

const args = (s: Setup, resid: number | null, out: number, kernel?: string): MoeDown1Args => ({
  act: s.dev.act.ptr, ids: s.dev.ids.ptr, wts: s.dev.wts.ptr, downTable: s.dev.table, downS: s.dev.downS, resid, out, K: s.K, I: s.I, kernel,
});

function read(g: CudaBackend, ptr: number, n: number): Float32Array {
  const out = new Float32Array(n);
  g.dev.download(out, ptr);
  return out;
}

/** The launches moe_down1_res replaces (moe.ts's moeBlockFused at batch 1, then the residual add). */
function threeLaunches(g: CudaBackend, s: Setup, out: number): void {
  const { H, I, S, K } = s;
  g.withScratch((scratch) => {
    const part = scratch((S + K) * H * 4); // [S + K, H]
    const moe = scratch(H * 4);
    const grid = Math.max(1, Math.min(Math.ceil(((S + K) * H) / 4), g.dev.info.multiprocessors * 8));
    g.kernels.launch('moe_down1_l8', grid, 128, [s.dev.act.ptr, s.dev.ids.ptr, s.dev.table, s.dev.downS.ptr, part, K, S, H, I, S * I, 0]); // pre 0: no L2 prefetch
    g.kernels.launch('moe_combine1', Math.ceil(H / 256), 256, [part, s.dev.wts.ptr, moe, K, S, H]);
    g.kernels.launch('add_f32', g.blocks(H), 256, [s.dev.resid.ptr, moe, out, H]);
  });
}

const bitsDiffer = (a: Float32Array, b: Float32Array) => {
  const ua = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const ub = new Uint32Array(b.buffer, b.byteOffset, b.length);
  let n = 0;
  for (let i = 0; i < ua.length; i++) if (ua[i] !== ub[i]) n++;
  return n;
};

describeCuda('moe_down1_res: the batch-1 MoE tail in one launch', () => {
  it('Nano shape (H 2688, I 1856, Is 3712, top-6 of 128): vs float64 and vs moe_down1 + moe_combine1 + add', () => {
    const g = gpu();
    g.beginStep();
    const [H, I, S, E] = [2688, 1856, 2, 128];
    const s = setup(g, H, I, S, E, [127, 3, 64, 0, 90, 17], 21);
    const want = reference(s, true);
    const out = g.alloc([H]); // NaN-poisoned: every output must be written
    expect(moeDown1Res(g, args(s, s.dev.resid.ptr, out.ptr))).toBe(true);
    const got = read(g, out.ptr, H);
    const err = relErr(got, want);
    expect(err, `relative error ${err}`).toBeLessThanOrEqual(1e-5);

    const old = g.alloc([H]);
    threeLaunches(g, s, old.ptr);
    const before = read(g, old.ptr, H);
    const diff = bitsDiffer(got, before);
    console.log(`moe_down1_res vs moe_down1 + moe_combine1 + add: ${diff} of ${H} outputs differ in their bits, relErr ${relErr(got, before)}`);
    // the same dot (gemv1's lane order) and the same combine association: equal up to last-bit effects
    expect(relErr(got, before)).toBeLessThanOrEqual(1e-6);

    // without a residual
    const bare = g.alloc([H]);
    expect(moeDown1Res(g, args(s, null, bare.ptr))).toBe(true);
    expect(relErr(read(g, bare.ptr, H), reference(s, false))).toBeLessThanOrEqual(1e-5);

    // in place on the residual stream: the same bits as into a separate buffer
    const h = g.fromFloat32(s.resid, [H]);
    expect(moeDown1Res(g, args(s, h.ptr, h.ptr))).toBe(true);
    expect(bitsDiffer(read(g, h.ptr, H), got)).toBe(0);

    // the canonical-order variants (the default rotates the shared chunks, summing in the canonical order) and a
    // second run: the same arithmetic, so the same bits
    for (const kernel of ['moe_down1_res_l8_rots', 'moe_down1_res_l8', 'moe_down1_res_l8_pf0', 'moe_down1_res_l8_pf2']) {
      const o = g.alloc([H]);
      expect(moeDown1Res(g, args(s, s.dev.resid.ptr, o.ptr, kernel))).toBe(true);
      expect(bitsDiffer(read(g, o.ptr, H), got), kernel).toBe(0);
    }
    // two rows in flight per warp, the odd ones through shared memory (NEMOTRON_CUDA_MOE_DOWN1_HY=1): the same bits
    const savedHy = process.env.NEMOTRON_CUDA_MOE_DOWN1_HY;
    process.env.NEMOTRON_CUDA_MOE_DOWN1_HY = '1';
    try {
      const o = g.alloc([H]);
      const { names } = launched(g, () => moeDown1Res(g, args(s, s.dev.resid.ptr, o.ptr)));
      expect(names).toEqual(['moe_down1_res_l8_hy']);
      expect(bitsDiffer(read(g, o.ptr, H), got), 'moe_down1_res_l8_hy').toBe(0);
    } finally {
      if (savedHy === undefined) delete process.env.NEMOTRON_CUDA_MOE_DOWN1_HY;
      else process.env.NEMOTRON_CUDA_MOE_DOWN1_HY = savedHy;
    }
    g.release(h);
    release(g, s);
  });

  it('act and resid written by the kernel launched just before (PDL overlap): the same bits', () => {
    const g = gpu();
    g.beginStep();
    const [H, I, S, E] = [2688, 1856, 2, 128];
    const s = setup(g, H, I, S, E, [5, 77, 12, 100, 41, 63], 33);
    const out = g.alloc([H]);
    expect(moeDown1Res(g, args(s, s.dev.resid.ptr, out.ptr))).toBe(true);
    const want = read(g, out.ptr, H);
    expect(relErr(want, reference(s, true))).toBeLessThanOrEqual(1e-5);
    const n = s.act.length;
    const zeros = g.zeros([n]);
    for (let rep = 0; rep < 5; rep++) {
      // NaN act and resid, rewritten on the device by add_f32 (x + 0) right before moe_down1_res
      const act = g.alloc([n]);
      const resid = g.alloc([H]);
      g.kernels.launch('add_f32', g.blocks(n), 256, [s.dev.act.ptr, zeros.ptr, act.ptr, n]);
      g.kernels.launch('add_f32', g.blocks(H), 256, [s.dev.resid.ptr, zeros.ptr, resid.ptr, H]);
      const o = g.alloc([H]);
      expect(moeDown1Res(g, { ...args(s, resid.ptr, o.ptr), act: act.ptr })).toBe(true);
      expect(bitsDiffer(read(g, o.ptr, H), want), `rep ${rep}`).toBe(0);
    }
    g.release(zeros);
    release(g, s);
  });

  it('rows over 2048 (the 12-load variant), one shared chunk, three slots', () => {
    const g = gpu();
    g.beginStep();
    const [H, I, S, E] = [520, 2568, 1, 16];
    const s = setup(g, H, I, S, E, [15, 0, 9], 45);
    const out = g.alloc([H]);
    const launched: string[] = [];
    const c = Object.create(g, {
      kernels: {
        value: {
          resident: (name: string, block: number, shmem?: number) => g.kernels.resident(name, block, shmem),
          launch: (name: string, grid: Dim, block: number, a: readonly (number | null)[], shmem?: number) => {
            launched.push(name);
            g.kernels.launch(name, grid, block, a, shmem);
          },
        },
      },
    }) as CudaCtx;
    expect(moeDown1Res(c, args(s, s.dev.resid.ptr, out.ptr))).toBe(true);
    expect(launched).toEqual(['moe_down1_res_l12']);
    expect(relErr(read(g, out.ptr, H), reference(s, true))).toBeLessThanOrEqual(1e-5);
    release(g, s);
  });

  it('grid: one warp per output while they fit at once', () => {
    const g = gpu();
    const sms = g.dev.info.multiprocessors;
    expect(moeDown1Grid(g, 2688, 8)).toBe(Math.min(672, sms * 6));
    expect(moeDown1Grid(g, 100000, 8)).toBe(sms * 6);
    expect(moeDown1Grid(g, 1, 12)).toBe(1);
  });
});
