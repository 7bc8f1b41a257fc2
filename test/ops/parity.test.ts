import { describe, expect, it } from 'vitest';
import { CpuFastBackend } from '../../src/backends/cpu/fast/backend.js';
import { CpuRefBackend } from '../../src/backends/cpu/ref/backend.js';
import { CpuSimdBackend } from '../../src/backends/cpu/simd/backend.js';
import type { Ops, Tensor } from '../../src/ops/ops.js';
import { relErr } from '../helpers/fixtures.js';
import { opCases, randn } from './cases.js';

// Every op of every CPU backend against the plain reference (the GPU backends run the same cases in test/cuda).
const ref = new CpuRefBackend() as unknown as Ops<Tensor>;
const backends: Array<[string, Ops<Tensor>, number]> = [
  ['cpu-fast', new CpuFastBackend() as unknown as Ops<Tensor>, 1e-5],
  ['cpu-simd', new CpuSimdBackend() as unknown as Ops<Tensor>, 1e-5],
  ['cpu-simd in a forward pass (outputs in its wasm arena)', simdStepping() as unknown as Ops<Tensor>, 1e-5],
];

/** A cpu-simd backend after beginStep: outputs come from its wasm step arena and elementwise ops run in wasm. */
function simdStepping(): CpuSimdBackend {
  const b = new CpuSimdBackend();
  b.beginStep();
  return b;
}

describe.each(backends)('op parity: %s vs cpu-ref', (_name, backend, tol) => {
  it.each(opCases().map((c) => [c.name, c] as const))('%s', (_n, c) => {
    const want = c.run(ref);
    const got = c.run(backend);
    expect(got.length).toBe(want.length);
    want.forEach((w, i) => {
      expect(got[i].length).toBe(w.length);
      expect(got[i].every(Number.isFinite)).toBe(true);
      expect(relErr(got[i], w)).toBeLessThanOrEqual(tol);
    });
  });
  it('declares support for every op it implements', () => {
    for (const op of ['embed', 'rmsNorm', 'matmul', 'mambaConv', 'ssmScan', 'gatedRmsNorm', 'attention', 'moeRoute', 'moeExperts'] as const) {
      expect(backend.supports(op)).toBe(true);
    }
  });
});

describe('cpu-simd with BF16 weights (fromBytes, kept as BF16 in wasm memory) vs cpu-ref on the same values', () => {
  const simd = new CpuSimdBackend();
  /** Random weights rounded to BF16: the raw little-endian bytes and their float32 values. */
  const bf16 = (seed: number, n: number, scale: number) => {
    const u32 = new Uint32Array(randn(seed, n, scale).buffer);
    const bytes = new Uint8Array(2 * n);
    const values = new Float32Array(n);
    const v32 = new Uint32Array(values.buffer);
    for (let i = 0; i < n; i++) {
      const h = (u32[i] + 0x7fff + ((u32[i] >>> 16) & 1)) >>> 16; // round to nearest even
      bytes[2 * i] = h & 0xff;
      bytes[2 * i + 1] = h >>> 8;
      v32[i] = h << 16;
    }
    return { bytes, values };
  };
  // the last two are large enough to be split over the helper threads (POOL_MIN_MACS) on a machine with 2+ cores
  it.each([[1, 64, 200], [5, 64, 64], [4, 256, 1804], [3, 768, 256], [64, 512, 1028], [128, 256, 1804]])('matmul [%i,%i]x[%i,in]', (n, inDim, outDim) => {
    const w = bf16(50, outDim * inDim, 1 / Math.sqrt(inDim));
    const x = randn(51, n * inDim);
    const want = ref.toFloat32(ref.matmul(ref.fromFloat32(x, [n, inDim]), ref.fromFloat32(w.values, [outDim, inDim])));
    const got = simd.toFloat32(simd.matmul(simd.fromFloat32(x, [n, inDim]), simd.fromBytes(w.bytes, 'BF16', [outDim, inDim])));
    expect(relErr(got, want)).toBeLessThanOrEqual(1e-5);
  });
  it('float32 matmul split over the helper threads', () => {
    const [n, inDim, outDim] = [48, 260, 1000]; // 12.5 M multiply-adds, padded rows
    const x = randn(54, n * inDim);
    const w = randn(55, outDim * inDim, 1 / Math.sqrt(inDim));
    const want = ref.toFloat32(ref.matmul(ref.fromFloat32(x, [n, inDim]), ref.fromFloat32(w, [outDim, inDim])));
    const got = simd.toFloat32(simd.matmul(simd.fromFloat32(x, [n, inDim]), simd.fromFloat32(w, [outDim, inDim])));
    expect(relErr(got, want)).toBeLessThanOrEqual(1e-5);
  });
  it('moeExperts E=8 top-2 H=64 I=32 over 5 tokens', () => {
    const [E, H, I, n] = [8, 64, 32, 5];
    const ups = Array.from({ length: E }, (_, e) => bf16(200 + e, I * H, 1 / Math.sqrt(H)));
    const downs = Array.from({ length: E }, (_, e) => bf16(300 + e, H * I, 1 / Math.sqrt(I)));
    const x = randn(52, n * H);
    const run = (o: Ops<Tensor>, bytes: boolean) => {
      const routing = { experts: o.fromFloat32(Float32Array.of(0, 3, 3, 7, 1, 0, 3, 2, 5, 3), [n, 2]), weights: o.fromFloat32(randn(53, 2 * n), [n, 2]) };
      const mkW = (w: { bytes: Uint8Array; values: Float32Array }, shape: number[]) => (bytes ? o.fromBytes!(w.bytes, 'BF16', shape) : o.fromFloat32(w.values, shape));
      return o.toFloat32(o.moeExperts(o.fromFloat32(x, [n, H]), routing, ups.map((w) => mkW(w, [I, H])), downs.map((w) => mkW(w, [H, I]))));
    };
    expect(relErr(run(simd as unknown as Ops<Tensor>, true), run(ref, false))).toBeLessThanOrEqual(1e-5);
  });
});

describe('cpu-simd step arena', () => {
  it('outputs stay correct across arena chunks and memory growth (12 MiB adds), and toFloat32 copies', () => {
    const simd = simdStepping();
    const n = 3 << 20;
    const a = randn(60, n);
    const b = randn(61, n);
    const ta = simd.fromFloat32(a, [n]);
    const tb = simd.fromFloat32(b, [n]);
    const first = simd.add(ta, tb);
    const second = simd.add(first, tb); // an arena input, a fresh chunk
    const got = simd.toFloat32(second);
    expect(got.buffer).not.toBeInstanceOf(SharedArrayBuffer);
    for (let i = 0; i < n; i += 9973) expect(got[i]).toBe(Math.fround(Math.fround(a[i] + b[i]) + b[i]));
    simd.beginStep(); // rewinds: the next output reuses the first one's memory, the copy is unaffected
    simd.add(tb, tb);
    expect(got[0]).toBe(Math.fround(Math.fround(a[0] + b[0]) + b[0]));
  });
});

describe('cpu-simd per-sequence state in wasm memory', () => {
  it('KV cache (heap blocks) across growth and SSM state (heap block, scanned in place) match the reference step by step', () => {
    const simd = simdStepping() as unknown as Ops<Tensor>;
    const dims = { heads: 4, kvHeads: 2, headDim: 16 };
    const m = { heads: 8, headDim: 8, stateSize: 16, groups: 2, dtMin: 0, dtMax: Infinity };
    const run = (o: Ops<Tensor>) => {
      const cache = o.newKvCache(dims);
      const S = o.zeros([m.heads, m.headDim, m.stateSize]);
      const outs: Float32Array[] = [];
      const lens = [60, 1, 1, 3, 1, 70, 1];
      lens.forEach((n, step) => {
        o.beginStep?.();
        const seg = [{ start: 0, length: n }];
        const sd = 700 + 10 * step;
        const t = (seed: number, shape: number[], scale = 1) => o.fromFloat32(randn(seed, shape.reduce((a, b) => a * b, 1), scale), shape);
        outs.push(o.toFloat32(o.attention(t(sd, [n, 64]), t(sd + 1, [n, 32]), t(sd + 2, [n, 32]), dims, seg, [cache])));
        outs.push(o.toFloat32(o.ssmScan(
          t(sd + 3, [n, 64]), t(sd + 4, [n, 8], 2), t(sd + 5, [n, 32]), t(sd + 6, [n, 32]),
          o.fromFloat32(Float32Array.from({ length: 8 }, (_, h) => Math.log(1 + h)), [8]), t(sd + 7, [8]), t(sd + 8, [8], 0.5), m, seg, [S],
        )));
      });
      outs.push(o.toFloat32(S));
      o.release(cache);
      o.release(S);
      return outs;
    };
    const want = run(ref);
    const got = run(simd);
    want.forEach((w, i) => expect(relErr(got[i], w)).toBeLessThanOrEqual(1e-5));
    // released blocks are reused, and handed out zeroed
    const again = simd.zeros([m.heads, m.headDim, m.stateSize]);
    expect(simd.toFloat32(again).every((v) => v === 0)).toBe(true);
  });
});

describe('reference ops on hand-checked values', () => {
  it('ssmScan: one head, one token equals the closed form of model-spec 3.5', () => {
    const o = ref;
    const state = o.fromFloat32(Float32Array.from([0.5, -1]), [1, 1, 2]); // S[p=0] = [0.5, -1]
    const dtRaw = 0.3;
    const dtBias = 0.2;
    const dt = Math.log1p(Math.exp(dtRaw + dtBias));
    const A = -Math.exp(Math.log(2));
    const x = 1.5;
    const B = [2, 3];
    const C = [0.25, -0.5];
    const D = 0.7;
    const y = o.toFloat32(o.ssmScan(
      o.fromFloat32(Float32Array.of(x), [1, 1]), o.fromFloat32(Float32Array.of(dtRaw), [1, 1]),
      o.fromFloat32(Float32Array.from(B), [1, 2]), o.fromFloat32(Float32Array.from(C), [1, 2]),
      o.fromFloat32(Float32Array.of(Math.log(2)), [1]), o.fromFloat32(Float32Array.of(D), [1]), o.fromFloat32(Float32Array.of(dtBias), [1]),
      { heads: 1, headDim: 1, stateSize: 2, groups: 1, dtMin: 0, dtMax: Infinity }, [{ start: 0, length: 1 }], [state],
    ));
    const a = Math.exp(dt * A);
    const S = [a * 0.5 + dt * x * B[0], a * -1 + dt * x * B[1]];
    expect(y[0]).toBeCloseTo(S[0] * C[0] + S[1] * C[1] + D * x, 5);
    expect(Array.from(o.toFloat32(state))).toEqual(S.map(Math.fround));
  });

  it('moeRoute: the correction bias picks experts but the weights are the unbiased sigmoid scores, renormalised and scaled', () => {
    const o = ref;
    // 3 experts, H = 1, x = 1: logits = gate weights
    const gate = o.fromFloat32(Float32Array.of(2, 0, -1), [3, 1]);
    const bias = o.fromFloat32(Float32Array.of(0, 0, 5), [3]); // expert 2 wins selection only through its bias
    const r = o.moeRoute(o.fromFloat32(Float32Array.of(1), [1, 1]), gate, bias, { experts: 3, topK: 2, nGroup: 1, topkGroup: 1, normTopkProb: true, scale: 2.5 });
    expect(Array.from(o.toFloat32(r.experts))).toEqual([2, 0]);
    const s = (v: number) => 1 / (1 + Math.exp(-v));
    const w = o.toFloat32(r.weights);
    expect(w[0]).toBeCloseTo((s(-1) / (s(-1) + s(2))) * 2.5, 6);
    expect(w[1]).toBeCloseTo((s(2) / (s(-1) + s(2))) * 2.5, 6);
  });

  it('gatedRmsNorm normalises per group, not over the whole width (pitfall P6)', () => {
    const o = ref;
    const y = o.fromFloat32(Float32Array.of(1, 1, 10, 10), [1, 4]);
    const z = o.fromFloat32(Float32Array.of(50, 50, 50, 50), [1, 4]); // silu(50) ~= 50
    const out = o.toFloat32(o.gatedRmsNorm(y, z, o.fromFloat32(Float32Array.of(1, 1, 1, 1), [4]), 2, 0));
    Array.from(out).forEach((v) => expect(v).toBeCloseTo(1, 5));
  });

  it('mambaConv keeps the last K-1 raw inputs as state, left-padded from the old state for short inputs (P9)', () => {
    const o = ref;
    const state = o.fromFloat32(Float32Array.of(1, 2, 3), [1, 3]);
    o.mambaConv(o.fromFloat32(Float32Array.of(4), [1, 1]), o.fromFloat32(Float32Array.of(0, 0, 0, 1), [1, 4]), null, [{ start: 0, length: 1 }], [state]);
    expect(Array.from(o.toFloat32(state))).toEqual([2, 3, 4]);
  });
});
