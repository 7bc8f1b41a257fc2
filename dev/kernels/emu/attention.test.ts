import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { attention as refAttention } from '../../../src/backends/cpu/ref/attention.js';
import { CpuKvCache, CpuTensor } from '../../../src/backends/cpu/ref/tensor.js';
import { attention } from '../../../src/backends/cuda/ops/attention.js';
import { CudaKvCache } from '../../../src/backends/cuda/tensor.js';
import { randn } from '../../../test/ops/cases.js';
import { relErr } from '../../../test/helpers/numeric.js';
import { emuUnavailable } from './build.js';
import { emuCtx, emuTensor } from './ctx.js';
import { EMU_FLAGS, emuKernels, type EmuKernels } from './emu.js';

// attention.cu's tensor-core kernels (TF32 mma.sync) on the CPU emulator, launched by the real host side
// (ops/attention.ts on a stand-in context), against cpu-ref's attention (float64 causal GQA softmax) over the same
// calls on two sequences: a first prefill, a prefill with past > 0 (causal edge inside key tiles), a mixed step
// (a chunk on attn_prefill, a single token on attn_decode via items), then a decode step at contexts 71 and 52
// (attn_decode appends the row itself; 3 and 2 key splits of 32, merged by attn_combine).
const why = emuUnavailable();
if (why) console.warn(`skipping the CUDA emulator checks: ${why}`);

const steps: { lens: number[]; kernels: string[] }[] = [
  { lens: [40, 30], kernels: ['kv_append', 'attn_prefill'] },
  { lens: [25, 20], kernels: ['kv_append', 'attn_prefill'] },
  { lens: [5, 1], kernels: ['kv_append', 'attn_prefill', 'attn_decode', 'attn_combine'] },
  { lens: [1, 1], kernels: ['attn_decode', 'attn_combine'] },
];

describe.skipIf(!!why)('attention.cu on the CPU emulator', () => {
  let e: EmuKernels;
  beforeAll(() => {
    e = emuKernels('attention.cu');
  });
  afterAll(() => e?.freeAll());

  it.each([
    [4, 2, 16, 0],
    [6, 2, 32, EMU_FLAGS.reverseBlocks | EMU_FLAGS.reverseThreads], // 3 query heads per kv head: partial row groups
  ])('%i query / %i kv heads x %i: prefill, prefill with past, mixed step, decode (flags %i)', (heads, kvHeads, hd, flags) => {
    const dims = { heads, kvHeads, headDim: hd };
    const kvw = kvHeads * hd;
    const launched: string[] = [];
    const ctx = emuCtx(e, launched);
    const caches = [new CudaKvCache(kvw), new CudaKvCache(kvw)];
    const refCaches = [new CpuKvCache(kvw), new CpuKvCache(kvw)];
    e.setFlags(flags);
    steps.forEach(({ lens, kernels }, step) => {
      const N = lens.reduce((a, b) => a + b, 0);
      const segments = lens.map((length, i) => ({ start: i ? lens[0] : 0, length }));
      const q = randn(100 + step, N * heads * hd);
      const k = randn(200 + step, N * kvw);
      const v = randn(300 + step, N * kvw);
      launched.length = 0;
      const out = attention(ctx, emuTensor(e, q, [N, heads * hd]), emuTensor(e, k, [N, kvw]), emuTensor(e, v, [N, kvw]), dims, segments, caches);
      expect(launched.map((n) => n.replace(/_hd\d+$/, '')), `step ${step}`).toEqual(kernels);
      const want = refAttention(new CpuTensor(q, [N, heads * hd]), new CpuTensor(k, [N, kvw]), new CpuTensor(v, [N, kvw]), dims, segments, refCaches).data;
      // TF32 operands (10 mantissa bits) against float64 sums of float32 values
      expect(relErr(e.download(out.ptr, new Float32Array(N * heads * hd)), want), `step ${step}`).toBeLessThanOrEqual(2e-3);
    });
    expect(caches.map((c) => c.length)).toEqual([71, 52]);
    // the cache rows (kv_append, and attn_decode's own append) are the inputs rounded to TF32: within 2^-11
    caches.forEach((c, s) => {
      const rows = c.length * kvw;
      expect(relErr(e.download(c.k, new Float32Array(rows)), refCaches[s].k.subarray(0, rows)), `k cache ${s}`).toBeLessThanOrEqual(2 ** -11);
      expect(relErr(e.download(c.v, new Float32Array(rows)), refCaches[s].v.subarray(0, rows)), `v cache ${s}`).toBeLessThanOrEqual(2 ** -11);
    });
  });
  it('decode at contexts past 1024 (more than 32 key splits per kv head: attn_combine takes its partials in batches)', () => {
    const dims = { heads: 4, kvHeads: 2, headDim: 16 };
    const kvw = dims.kvHeads * dims.headDim;
    const lens = [1100, 1300]; // contexts before the first step: 35 and 41 splits of 32 keys
    // the caches hold TF32-rounded rows (what kv_append writes); filled directly, room for the steps (no growth)
    const tf32 = (a: Float32Array) => {
      const u = new Uint32Array(a.buffer.slice(0));
      for (let i = 0; i < u.length; i++) if ((u[i] & 0x7f800000) !== 0x7f800000) u[i] = (u[i] + 0x1000) & 0xffffe000;
      return new Float32Array(u.buffer);
    };
    const caches = lens.map((len, s) => {
      const c = new CudaKvCache(kvw);
      const r = new CpuKvCache(kvw, len + 8);
      const k = tf32(randn(500 + s, len * kvw));
      const v = tf32(randn(600 + s, len * kvw));
      c.capacity = len + 8;
      c.k = e.alloc(c.capacity * kvw * 4);
      c.v = e.alloc(c.capacity * kvw * 4);
      c.allocSize = c.capacity * kvw * 4;
      e.write(c.k, k);
      e.write(c.v, v);
      c.length = len;
      r.append(k, v, len);
      return { c, r };
    });
    const launched: string[] = [];
    const ctx = emuCtx(e, launched);
    e.setFlags(0);
    for (let step = 0; step < 2; step++) {
      const N = 2;
      const segments = [{ start: 0, length: 1 }, { start: 1, length: 1 }];
      const q = randn(700 + step, N * dims.heads * dims.headDim, 2);
      const k = randn(800 + step, N * kvw);
      const v = randn(900 + step, N * kvw);
      launched.length = 0;
      const out = attention(ctx, emuTensor(e, q, [N, dims.heads * dims.headDim]), emuTensor(e, k, [N, kvw]), emuTensor(e, v, [N, kvw]), dims, segments, caches.map((x) => x.c));
      expect(launched.map((n) => n.replace(/_hd\d+$/, '')), `step ${step}`).toEqual(['attn_decode', 'attn_combine']);
      const want = refAttention(new CpuTensor(q, [N, dims.heads * dims.headDim]), new CpuTensor(k, [N, kvw]), new CpuTensor(v, [N, kvw]), dims, segments, caches.map((x) => x.r)).data;
      expect(relErr(e.download(out.ptr, new Float32Array(N * dims.heads * dims.headDim)), want), `step ${step}`).toBeLessThanOrEqual(2e-3);
    }
    expect(caches.map((x) => x.c.length)).toEqual([1102, 1302]);
  });
});
