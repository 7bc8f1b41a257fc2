import { afterEach, expect, it } from 'vitest';
import type { CudaBackend } from '../../src/backends/cuda/backend.js';
import { DecodeGraphs } from '../../src/backends/cuda/graph.js';
import { pointerTable } from '../../src/backends/cuda/ops/moe.js';
import { moeDown1Res } from '../../src/backends/cuda/ops/moe-down1.js';
import { ringGrid, ringShmem } from '../../src/backends/cuda/ops/ring.js';
import { CudaTensor } from '../../src/backends/cuda/tensor.js';
import { loadModel } from '../../src/loaders/load-model.js';
import { FIXTURE_NAMES, fixtureDir, readGolden } from '../helpers/fixtures.js';
import { moeDown1Reference } from '../helpers/moe-down1-reference.js';
import { randn } from '../ops/cases.js';
import { describeCuda, gpu, launched, relErr, toBf16 } from './helpers.js';

// The ring kernels (kernels/gemv_ring.cu: weight rows through per-warp cp.async rings, chosen by the
// NEMOTRON_CUDA_RING* knobs, ops/ring.ts) on the device at the real Nano shapes: every depth gives the same bits as
// the register kernel it replaces where the arithmetic is the same (gemv1_bf16_l12, moe_down1_res), and matches a
// float64 reference where it is not (out_proj's 4096-wide rows, formerly gemv_bf16_n1); inputs written by the
// kernel launched just before (PDL); and the golden fixtures decode their greedy continuations with every ring on.

const KNOBS = ['NEMOTRON_CUDA_RING', 'NEMOTRON_CUDA_RING_GEMV', 'NEMOTRON_CUDA_RING_GEMV16', 'NEMOTRON_CUDA_RING_UP', 'NEMOTRON_CUDA_RING_DOWN'];
const saved = Object.fromEntries(KNOBS.map((k) => [k, process.env[k]]));
/** Sets the ring knobs (undefined: unset), so a call picks the path under test. */
function knobs(v: Partial<Record<string, string>>): void {
  for (const k of KNOBS) delete process.env[k];
  for (const [k, x] of Object.entries(v)) if (x !== undefined) process.env[k] = x;
}

function read(g: CudaBackend, ptr: number, n: number): Float32Array {
  const out = new Float32Array(n);
  g.dev.download(out, ptr);
  return out;
}
const sameBits = (a: Float32Array, b: Float32Array) => Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.byteLength), Buffer.from(b.buffer, b.byteOffset, b.byteLength)) === 0;

describeCuda('ring kernels (gemv_ring.cu)', () => {
  afterEach(() => {
    for (const k of KNOBS) {
      if (saved[k] === undefined) delete process.env[k];
      else process.env[k] = saved[k];
    }
  });

  it.each([
    [10304, 2688, 'gemv_ring_l12'], // in_proj
    [40000, 2688, 'gemv_ring_l12'], // a slice of lm_head's rows
    [2688, 4096, 'gemv_ring_l16'], // out_proj, o_proj
  ])('matmul of one row, W [%i, %i]: every depth of %s vs the register kernel and float64', (M, K, family) => {
    const g = gpu();
    g.beginStep();
    const w = toBf16(randn(M + K, M * K, 1 / Math.sqrt(K)));
    const W = g.fromBytes(w.bytes, 'BF16', [M, K]);
    const xv = randn(7, K);
    const x = g.fromFloat32(xv, [1, K]);
    knobs({ NEMOTRON_CUDA_RING: '0' });
    const base = read(g, g.matmul(x, W).ptr, M);
    const want = Float64Array.from({ length: M }, (_, r) => {
      let s = 0;
      for (let k = 0; k < K; k++) s += w.values[r * K + k] * xv[k];
      return s;
    });
    expect(relErr(base, want)).toBeLessThanOrEqual(1e-5);
    for (const d of family === 'gemv_ring_l12' ? [2, 3, 4] : [2, 3]) {
      knobs({ NEMOTRON_CUDA_RING: String(d) });
      const { r: y, names } = launched(g, () => g.matmul(x, W));
      expect(names).toEqual([`${family}_d${d}`]);
      const got = read(g, y.ptr, M);
      expect(relErr(got, want), `depth ${d}`).toBeLessThanOrEqual(1e-5);
      if (K <= 3072) expect(sameBits(got, base), `depth ${d}: the same bits as gemv1_bf16_l12`).toBe(true);
    }
    g.release(W);
    g.release(x);
  });

  it('moe_down1_res at the Nano shape (top-6 of 128): every depth gives the register kernel\'s bits, also with act and resid written just before', () => {
    const g = gpu();
    g.beginStep();
    const [H, I, S, E] = [2688, 1856, 2, 128];
    const ids = [127, 3, 64, 0, 90, 17];
    const K = ids.length;
    const all = toBf16(randn(5, (H + 8 * (E - 1)) * I, 1 / Math.sqrt(I)));
    const downS = toBf16(randn(6, H * S * I, 1 / Math.sqrt(S * I)));
    const act = randn(7, (S + K) * I).map((v) => v * v);
    const resid = randn(8, H, 2);
    const wts = Float32Array.from(ids, (_, k) => 0.05 + 0.31 * ((k * 5 + 3) % 7));
    const allT = g.fromBytes(all.bytes, 'BF16', [H + 8 * (E - 1), I]);
    const downST = g.fromBytes(downS.bytes, 'BF16', [H, S * I]);
    const idsT = g.persistent([K], 'i32');
    g.dev.upload(idsT.ptr, Int32Array.from(ids));
    const table = pointerTable(g, Array.from({ length: E }, (_, e) => new CudaTensor([H, I], 'bf16', allT.ptr + 8 * e * I * 2, I, -1, null)));
    const actT = g.fromFloat32(act, [act.length]);
    const residT = g.fromFloat32(resid, [H]);
    const wtsT = g.fromFloat32(wts, [K]);
    const call = (a: number, r: number, out: number) => moeDown1Res(g, { act: a, ids: idsT.ptr, wts: wtsT.ptr, downTable: table, downS: downST, resid: r, out, K, I });
    knobs({ NEMOTRON_CUDA_RING: '0' });
    const out0 = g.alloc([H]);
    expect(call(actT.ptr, residT.ptr, out0.ptr)).toBe(true);
    const base = read(g, out0.ptr, H);
    expect(relErr(base, moeDown1Reference({ H, I, S, ids, wts, act, downS: downS.values, all: all.values, resid }, true))).toBeLessThanOrEqual(1e-5);
    const zeros = g.zeros([act.length]);
    for (const d of [2, 3, 4]) {
      knobs({ NEMOTRON_CUDA_RING_DOWN: String(d) });
      const out = g.alloc([H]); // NaN-poisoned
      const { names } = launched(g, () => call(actT.ptr, residT.ptr, out.ptr));
      expect(names).toEqual([`moe_down1_ring_l8_d${d}`]);
      expect(sameBits(read(g, out.ptr, H), base), `depth ${d}`).toBe(true);
      for (let rep = 0; rep < 3; rep++) {
        // act and resid rewritten on the device (x + 0) right before: the ring's early loads are weights only
        const a2 = g.alloc([act.length]);
        const r2 = g.alloc([H]);
        g.kernels.launch('add_f32', g.blocks(act.length), 256, [actT.ptr, zeros.ptr, a2.ptr, act.length]);
        g.kernels.launch('add_f32', g.blocks(H), 256, [residT.ptr, zeros.ptr, r2.ptr, H]);
        const o2 = g.alloc([H]);
        expect(call(a2.ptr, r2.ptr, o2.ptr)).toBe(true);
        expect(sameBits(read(g, o2.ptr, H), base), `depth ${d}, rep ${rep}`).toBe(true);
      }
    }
    for (const t of [allT, downST, idsT, actT, residT, wtsT, zeros]) g.release(t);
  });

  it('grid: balanced over the resident blocks that fit by shared memory', () => {
    const g = gpu();
    const sms = g.dev.info.multiprocessors;
    const per = Math.floor((g.dev.info.sharedPerSm ?? 0) / (ringShmem(8, 3) + 1024));
    expect(per).toBeGreaterThan(0);
    const grid = ringGrid(g, 2688, ringShmem(8, 3));
    expect(grid).toBeLessThanOrEqual(sms * per);
    const rounds = Math.ceil(2688 / (grid * 4));
    expect(grid * 4 * rounds - 2688).toBeLessThan(4 * rounds); // no warp idles for a whole round
  });

  it.each(FIXTURE_NAMES)('golden fixture %s: greedy 64 tokens through pipelined graphs with every ring on (depth 3)', (name) => {
    knobs({ NEMOTRON_CUDA_RING: '3' });
    const golden = readGolden(name);
    const g = gpu();
    const model = loadModel(fixtureDir(name), g).model;
    const graphs = new DecodeGraphs(g);
    for (const p of Object.keys(golden.prompts)) {
      const state = model.newState();
      const first = g.argmaxRows(model.forward([{ tokens: golden.prompts[p], state }]));
      const fwd = () => model.forward([{ tokens: [0], state }]);
      const { r: rest, names } = launched(g, () => graphs.decodeGreedy('ring', first, 63, fwd));
      model.freeState(state);
      // legacy-f16 has f16 weights: its GEMVs are not the bf16 kernels the rings replace
      if (name !== 'legacy-f16' && p === Object.keys(golden.prompts)[0]) expect(names.filter((n) => n.includes('_ring_')).length, 'ring kernels in the step').toBeGreaterThan(0);
      expect([first[0], ...rest.map((t) => t[0])], `prompt ${p}`).toEqual(golden.greedy[p].tokens);
    }
    graphs.clear();
  });
});
