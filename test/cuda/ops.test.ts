import { expect, it } from 'vitest';
import { CpuRefBackend } from '../../src/backends/cpu/ref/backend.js';
import type { CudaBackend } from '../../src/backends/cuda/backend.js';
import type { Ops, Routing, Segment, Tensor } from '../../src/ops/ops.js';
import { opCases, randn } from '../ops/cases.js';
import { describeCuda, gpu, launched, relErr, toBf16 } from './helpers.js';

// Every op of the CUDA backend against the CPU reference on random inputs (outputs poisoned with NaN first):
// the shared cases with float32 weights, then the production path with BF16 weights at the real Nano's shapes.
const ref = new CpuRefBackend() as unknown as Ops<Tensor>;
const size = (s: number[]) => s.reduce((a, b) => a * b, 1);
const segs = (lengths: number[]): Segment[] => {
  let start = 0;
  return lengths.map((length) => ({ start: (start += length) - length, length }));
};

function expectClose(got: Float32Array, want: Float32Array, tol: number, what = ''): void {
  expect(got.length, what).toBe(want.length);
  const e = relErr(got, want);
  expect(e, `${what} relative error ${e}`).toBeLessThanOrEqual(tol);
}

describeCuda('op parity: cuda vs cpu-ref, shared cases (float32 weights)', () => {
  // the real-shape MoE case needs 128 float32 experts of 20 MB on the host: the bf16 suite covers it
  const cases = [...opCases(), ...opCases({ real: true }).filter((c) => c.op !== 'moe')];
  it.each(cases.map((c) => [c.name, c] as const))('%s', (_n, c) => {
    const b = gpu();
    b.beginStep();
    const want = c.run(ref);
    const got = c.run(b as unknown as Ops<Tensor>);
    expect(got.length).toBe(want.length);
    want.forEach((w, i) => expectClose(got[i], w, 1e-3, `output ${i}`));
  });
});

describeCuda('op parity: cuda vs cpu-ref, BF16 weights at real shapes', () => {
  const b = (opts = {}) => {
    const g = gpu(opts);
    g.beginStep();
    return g;
  };
  /** A weight rounded to bf16: float32 copy on the CPU, BF16 bytes on the GPU. */
  const weight = (g: CudaBackend, seed: number, shape: number[], scale: number) => {
    const { values, bytes } = toBf16(randn(seed, size(shape), scale));
    return { cpu: ref.fromFloat32(values, shape), gpu: g.fromBytes(bytes, 'BF16', shape) as unknown as Tensor };
  };
  const act = (g: CudaBackend, seed: number, shape: number[], scale = 1) => {
    const v = randn(seed, size(shape), scale);
    return { cpu: ref.fromFloat32(v, shape), gpu: g.fromFloat32(v, shape) as unknown as Tensor };
  };
  const G = (g: CudaBackend) => g as unknown as Ops<Tensor>;

  const mm: Array<[number, number, number]> = [[1, 2688, 10304], [3, 4096, 2688], [8, 1856, 2688], [16, 2688, 3712], [17, 2688, 1024], [64, 2688, 4096], [1, 2688, 32768], [5, 64, 200], [1, 4096, 2688], [1, 3712, 100], [1, 24, 3], [1, 4104, 40]];
  it.each(mm)('matmul [%i, %i] x bf16 [%i, K] (bf16-activation mode)', (n, k, m) => {
    const g = b({ precise: false });
    const x = act(g, 1, [n, k]);
    const w = weight(g, 2, [m, k], 1 / Math.sqrt(k));
    expectClose(G(g).toFloat32(G(g).matmul(x.gpu, w.gpu)), ref.toFloat32(ref.matmul(x.cpu, w.cpu)), 1e-2);
  });

  // 2688 rows of 4096 (out_proj) run in two waves of gemv_bf16_n1w; 12000 rows in more (a row pulled at most twice)
  it.each([
    [4096, 2688, 'GEMV_N1_HY', '1', 'gemv_bf16_n1_hy'],
    [3080, 40, 'GEMV_N1_HY', '1', 'gemv_bf16_n1_hy'],
    [4096, 2688, 'N1_AHEAD', 'after', 'gemv_bf16_n1w'], // the default (the knob unset) is tested by the model's goldens
    [3200, 12000, 'N1_AHEAD', 'after', 'gemv_bf16_n1w'],
    [3080, 40, 'N1_AHEAD', 'after', 'gemv_bf16_n1w'],
  ])('one-row matmul, K %i, M %i: NEMOTRON_CUDA_%s=%s (%s) gives the bits of gemv_bf16_n1', (k, m, knob, value, kernel) => {
    const g = b();
    const x = act(g, 11, [1, k]);
    const w = weight(g, 12, [m, k], 1 / Math.sqrt(k));
    const key = `NEMOTRON_CUDA_${knob}`;
    const saved = process.env[key];
    const savedAhead = process.env.NEMOTRON_CUDA_N1_AHEAD;
    try {
      delete process.env[key];
      process.env.NEMOTRON_CUDA_N1_AHEAD = '0'; // the base: gemv_bf16_n1
      const base = launched(g, () => G(g).toFloat32(G(g).matmul(x.gpu, w.gpu)));
      delete process.env.NEMOTRON_CUDA_N1_AHEAD;
      process.env[key] = value;
      const alt = launched(g, () => G(g).toFloat32(G(g).matmul(x.gpu, w.gpu)));
      expect(base.names).toContain('gemv_bf16_n1');
      expect(alt.names).toContain(kernel);
      expectClose(alt.r, ref.toFloat32(ref.matmul(x.cpu, w.cpu)), 1e-4);
      expect(Array.from(new Uint32Array(alt.r.buffer, alt.r.byteOffset, alt.r.length))).toEqual(Array.from(new Uint32Array(base.r.buffer, base.r.byteOffset, base.r.length)));
    } finally {
      if (saved === undefined) delete process.env[key];
      else process.env[key] = saved;
      if (savedAhead === undefined) delete process.env.NEMOTRON_CUDA_N1_AHEAD;
      else process.env.NEMOTRON_CUDA_N1_AHEAD = savedAhead;
    }
  });

  it('matmul in precise mode (cuBLAS on bf16 hi + lo activations) is float32-accurate', () => {
    const g = b({ precise: true });
    const x = act(g, 3, [64, 2688]);
    const w = weight(g, 4, [1024, 2688], 1 / Math.sqrt(2688));
    expectClose(G(g).toFloat32(G(g).matmul(x.gpu, w.gpu)), ref.toFloat32(ref.matmul(x.cpu, w.cpu)), 1e-4);
  });

  it('embed from a BF16 table, and RMSNorm of a column view', () => {
    const g = b();
    const table = weight(g, 5, [1000, 2688], 1);
    const ids = Int32Array.from([0, 999, 17, 17, 512]);
    expectClose(G(g).toFloat32(G(g).embed(table.gpu, ids)), ref.toFloat32(ref.embed(table.cpu, ids)), 1e-6);
    const x = act(g, 6, [5, 3000], 3);
    const w = act(g, 7, [2688]);
    const vg = G(g).splitCols(x.gpu, [2688, 312])[0];
    const vc = ref.splitCols(x.cpu, [2688, 312])[0];
    expectClose(G(g).toFloat32(G(g).rmsNorm(vg, w.gpu, 1e-5)), ref.toFloat32(ref.rmsNorm(vc, w.cpu, 1e-5)), 1e-4);
    expect(() => G(g).embed(table.gpu, Int32Array.from([1000]))).toThrow(RangeError);
  });

  it('residual add fused into the next RMSNorm: the same bits as add then RMSNorm, and the sum is written too', () => {
    const g = b();
    const a = act(g, 8, [3, 2688], 2);
    const y = act(g, 9, [3, 2688], 2);
    const w = act(g, 10, [2688]);
    const launches = g.kernels.launches;
    const h = G(g).add(a.gpu, y.gpu);
    const u = G(g).rmsNorm(h, w.gpu, 1e-5); // one kernel (add_rms_norm)
    expect(g.kernels.launches - launches).toBe(1);
    const hRef = ref.add(a.cpu, y.cpu);
    expectClose(G(g).toFloat32(h), ref.toFloat32(hRef), 1e-6, 'sum');
    expectClose(G(g).toFloat32(u), ref.toFloat32(ref.rmsNorm(hRef, w.cpu, 1e-5)), 1e-4, 'norm');
    // unfused: the add is launched before the next op that is not an RMSNorm of its output
    const h2 = G(g).add(a.gpu, y.gpu);
    const u2 = G(g).rmsNorm(G(g).add(h2, a.gpu), w.gpu, 1e-5);
    const u2Ref = ref.rmsNorm(ref.add(hRef, a.cpu), w.cpu, 1e-5);
    expectClose(G(g).toFloat32(u2), ref.toFloat32(u2Ref), 1e-4, 'chained');
    const fused = G(g).toFloat32(G(g).rmsNorm(G(g).add(a.gpu, y.gpu), w.gpu, 1e-5));
    const plain = G(g).toFloat32(G(g).rmsNorm(h, w.gpu, 1e-5)); // h is no pending sum: the plain rms_norm kernel
    expectClose(fused, plain, 1e-6, 'fused vs plain'); // the sum of squares is reduced in another order
    // more rows than the one-block-per-row decode kernel takes: the 256-thread kernel
    const a3 = act(g, 11, [70, 2688], 2);
    const y3 = act(g, 12, [70, 2688], 2);
    const h3Ref = ref.add(a3.cpu, y3.cpu);
    const u3 = G(g).rmsNorm(G(g).add(a3.gpu, y3.gpu), w.gpu, 1e-5);
    expectClose(G(g).toFloat32(u3), ref.toFloat32(ref.rmsNorm(h3Ref, w.cpu, 1e-5)), 1e-4, '70 rows');
  });

  it('batch 1: the add + RMSNorm run inside the GEMV / router that reads them (one launch), and flush when read otherwise', () => {
    const g = b();
    const saved = process.env.NEMOTRON_CUDA_FUSE_NORM;
    process.env.NEMOTRON_CUDA_FUSE_NORM = 'all'; // GEMVs stage the norm too (by default only routers do)
    try {
      fusedNormCase(g);
    } finally {
      if (saved === undefined) delete process.env.NEMOTRON_CUDA_FUSE_NORM;
      else process.env.NEMOTRON_CUDA_FUSE_NORM = saved;
    }
    // the default: a GEMV after a deferred norm gets it as its own launch first (add_rms_norm_wide, then gemv1)
    const H = 2688;
    const a = act(g, 61, [1, H], 2);
    const y = act(g, 62, [1, H], 2);
    const w = act(g, 63, [H]);
    const wq = weight(g, 64, [512, H], 1 / Math.sqrt(H));
    const launches = g.kernels.launches;
    const q = G(g).matmul(G(g).rmsNorm(G(g).add(a.gpu, y.gpu), w.gpu, 1e-5), wq.gpu);
    expect(g.kernels.launches - launches).toBe(2);
    expectClose(G(g).toFloat32(q), ref.toFloat32(ref.matmul(ref.rmsNorm(ref.add(a.cpu, y.cpu), w.cpu, 1e-5), wq.cpu)), 1e-5, 'q (norm launched on its own)');
  });

  function fusedNormCase(g: CudaBackend): void {
    const H = 2688;
    const a = act(g, 21, [1, H], 2);
    const y = act(g, 22, [1, H], 2);
    const w = act(g, 23, [H]);
    const wq = weight(g, 24, [4096, H], 1 / Math.sqrt(H));
    const wk = weight(g, 25, [256, H], 1 / Math.sqrt(H));
    const hRef = ref.add(a.cpu, y.cpu);
    const uRef = ref.rmsNorm(hRef, w.cpu, 1e-5);
    let launches = g.kernels.launches;
    const h = G(g).gatherRows(G(g).add(a.gpu, y.gpu), Int32Array.of(0)); // identity gather: no launch, add still pending
    const u = G(g).rmsNorm(h, w.gpu, 1e-5);
    expect(g.kernels.launches - launches).toBe(0);
    const q = G(g).matmul(u, wq.gpu); // gemv1_norm_bf16_l12: add + norm + GEMV
    expect(g.kernels.launches - launches).toBe(1);
    const k = G(g).matmul(u, wk.gpu); // reads u, which block 0 of the fused kernel wrote
    expect(g.kernels.launches - launches).toBe(2);
    expectClose(G(g).toFloat32(q), ref.toFloat32(ref.matmul(uRef, wq.cpu)), 1e-5, 'q');
    expectClose(G(g).toFloat32(k), ref.toFloat32(ref.matmul(uRef, wk.cpu)), 1e-5, 'k');
    expectClose(G(g).toFloat32(h), ref.toFloat32(hRef), 0, 'sum');
    expectClose(G(g).toFloat32(u), ref.toFloat32(uRef), 1e-5, 'norm');
    // the router reads the normalised row: router_topk_norm_bf16
    const E = 128;
    const gate = weight(g, 26, [E, H], 1 / Math.sqrt(H));
    const bias = act(g, 27, [E], 0.1);
    const dims = { experts: E, topK: 6, nGroup: 1, topkGroup: 1, normTopkProb: true, scale: 2.5 };
    launches = g.kernels.launches;
    const u2 = G(g).rmsNorm(G(g).add(a.gpu, y.gpu), w.gpu, 1e-5);
    const r = G(g).moeRoute(u2, gate.gpu, bias.gpu, dims);
    expect(g.kernels.launches - launches).toBe(1);
    const rRef = ref.moeRoute(uRef, gate.cpu, bias.cpu, dims);
    expect(Array.from(G(g).toFloat32(r.experts))).toEqual(Array.from(ref.toFloat32(rRef.experts)));
    expectClose(G(g).toFloat32(r.weights), ref.toFloat32(rRef.weights), 1e-5, 'router weights');
    expectClose(G(g).toFloat32(u2), ref.toFloat32(uRef), 1e-5, 'norm written by the router');
    // read directly: the deferred norm is launched on its own (add_rms_norm_wide)
    const u3 = G(g).rmsNorm(G(g).add(a.gpu, y.gpu), w.gpu, 1e-5);
    expectClose(G(g).toFloat32(u3), ref.toFloat32(uRef), 1e-5, 'flushed norm');
    // a plain norm of one row (no add), into a GEMV
    const u4 = G(g).rmsNorm(a.gpu, w.gpu, 1e-5);
    expectClose(G(g).toFloat32(G(g).matmul(u4, wk.gpu)), ref.toFloat32(ref.matmul(ref.rmsNorm(a.cpu, w.cpu, 1e-5), wk.cpu)), 1e-5, 'plain norm + GEMV');
  }

  it('matmuls: q, k, v of one row in one launch (gemv1x3), the same as three matmuls', () => {
    const g = b();
    const H = 2688;
    const x = act(g, 70, [1, H]);
    const ws = [weight(g, 71, [4096, H], 1 / Math.sqrt(H)), weight(g, 72, [256, H], 1 / Math.sqrt(H)), weight(g, 73, [256, H], 1 / Math.sqrt(H))];
    const launches = g.kernels.launches;
    const got = g.matmuls(x.gpu as never, ws.map((w) => w.gpu) as never);
    expect(got).not.toBeNull();
    expect(g.kernels.launches - launches).toBe(1);
    got!.forEach((t, i) => expectClose(G(g).toFloat32(t as never), ref.toFloat32(ref.matmul(x.cpu, ws[i].cpu)), 1e-5, `weight ${i}`));
    expect(g.matmuls(act(g, 74, [2, H]).gpu as never, ws.map((w) => w.gpu) as never)).toBeNull(); // two rows: declined
  });

  const moeCases: Array<{ E: number; K: number; H: number; I: number; N: number; nGroup?: number; topkGroup?: number }> = [
    { E: 8, K: 6, H: 2688, I: 1856, N: 1 },
    { E: 8, K: 6, H: 2688, I: 1856, N: 5 },
    { E: 8, K: 6, H: 2688, I: 1856, N: 12 },
    { E: 8, K: 6, H: 2688, I: 1856, N: 40 },
    { E: 128, K: 6, H: 256, I: 192, N: 9 },
    { E: 16, K: 4, H: 64, I: 32, N: 5, nGroup: 4, topkGroup: 2 },
  ];
  it.each(moeCases)('moeRoute + moeExperts E=$E top-$K H=$H I=$I N=$N groups=$nGroup', ({ E, K, H, I, N, nGroup = 1, topkGroup = 1 }) => {
    const g = b();
    const x = act(g, 10, [N, H]);
    const gate = weight(g, 11, [E, H], 1 / Math.sqrt(H));
    const bias = act(g, 12, [E], 0.3);
    const biasOffset = Float32Array.from(randn(12, E, 0.3), (v) => v + 8);
    const biasC = ref.fromFloat32(biasOffset, [E]);
    const biasG = G(g).fromFloat32(biasOffset, [E]);
    void bias;
    const dims = { experts: E, topK: K, nGroup, topkGroup, normTopkProb: true, scale: 2.5 };
    const up = Array.from({ length: E }, (_, e) => weight(g, 100 + e, [I, H], 1 / Math.sqrt(H)));
    const down = Array.from({ length: E }, (_, e) => weight(g, 400 + e, [H, I], 1 / Math.sqrt(I)));
    const rc = ref.moeRoute(x.cpu, gate.cpu, biasC, dims);
    const rg = G(g).moeRoute(x.gpu, gate.gpu, biasG, dims);
    expect(Array.from(G(g).toFloat32(rg.experts))).toEqual(Array.from(ref.toFloat32(rc.experts)));
    expectClose(G(g).toFloat32(rg.weights), ref.toFloat32(rc.weights), 1e-4, 'routing weights');
    const want = ref.toFloat32(ref.moeExperts(x.cpu, rc, up.map((u) => u.cpu), down.map((d) => d.cpu)));
    expectClose(G(g).toFloat32(G(g).moeExperts(x.gpu, rg, up.map((u) => u.gpu), down.map((d) => d.gpu))), want, 1e-2, 'experts');
    // the same experts from a float32 routing made on the host (ids as floats)
    const hostRouting: Routing<Tensor> = { experts: G(g).fromFloat32(ref.toFloat32(rc.experts), [N, K]), weights: G(g).fromFloat32(ref.toFloat32(rc.weights), [N, K]) };
    expectClose(G(g).toFloat32(G(g).moeExperts(x.gpu, hostRouting, up.map((u) => u.gpu), down.map((d) => d.gpu))), want, 1e-2, 'experts (host routing)');
  });

  // the decode router (one kernel: split-K logits + last-block top-k) with bf16 and float32 gates, 128 experts
  it.each([[1, 'bf16'], [7, 'f32'], [16, 'bf16'], [16, 'f32'], [3, 'grouped']] as const)('moeRoute fused router N=%i gate %s', (N, kind) => {
    const g = b();
    const E = 128;
    const H = 2688;
    const x = act(g, 20 + N, [N, H]);
    const gate = kind === 'f32' ? act(g, 21, [E, H], 1 / Math.sqrt(H)) : weight(g, 21, [E, H], 1 / Math.sqrt(H));
    const bias = act(g, 22, [E], 0.1);
    const dims = { experts: E, topK: 6, nGroup: kind === 'grouped' ? 8 : 1, topkGroup: kind === 'grouped' ? 3 : 1, normTopkProb: true, scale: 2.5 };
    const rc = ref.moeRoute(x.cpu, gate.cpu, bias.cpu, dims);
    const launches = g.kernels.launches;
    const rg = G(g).moeRoute(x.gpu, gate.gpu, bias.gpu, dims);
    expect(g.kernels.launches - launches).toBe(1);
    expect(Array.from(G(g).toFloat32(rg.experts))).toEqual(Array.from(ref.toFloat32(rc.experts)));
    expectClose(G(g).toFloat32(rg.weights), ref.toFloat32(rc.weights), 1e-5, 'routing weights');
    // twice in a row: the ticket counter was reset by the last block
    const again = G(g).moeRoute(x.gpu, gate.gpu, bias.gpu, dims);
    expect(Array.from(G(g).toFloat32(again.experts))).toEqual(Array.from(ref.toFloat32(rc.experts)));
  });

  // the fused MoE block (routed + shared expert in two kernels) against the composition on the CPU reference
  it.each([[1, 3712], [2, 3712], [4, 3712], [17, 3712], [1, 3000]])('moeBlock (routed top-6 of 8 + shared expert) N=%i, shared width %i', (N, Is) => {
    const g = b();
    const [E, K, H, I] = [8, 6, 2688, 1856];
    const x = act(g, 30 + N, [N, H]);
    const gate = weight(g, 31, [E, H], 1 / Math.sqrt(H));
    const bias = act(g, 32, [E], 0.1);
    const dims = { experts: E, topK: K, nGroup: 1, topkGroup: 1, normTopkProb: true, scale: 2.5 };
    const up = Array.from({ length: E }, (_, e) => weight(g, 600 + e, [I, H], 1 / Math.sqrt(H)));
    const down = Array.from({ length: E }, (_, e) => weight(g, 700 + e, [H, I], 1 / Math.sqrt(I)));
    const upS = weight(g, 33, [Is, H], 1 / Math.sqrt(H));
    const downS = weight(g, 34, [H, Is], 1 / Math.sqrt(Is));
    const rc = ref.moeRoute(x.cpu, gate.cpu, bias.cpu, dims);
    const routed = ref.moeExperts(x.cpu, rc, up.map((u) => u.cpu), down.map((d) => d.cpu));
    const want = ref.toFloat32(ref.add(routed, ref.matmul(ref.relu2(ref.matmul(x.cpu, upS.cpu)), downS.cpu)));
    const rg = G(g).moeRoute(x.gpu, gate.gpu, bias.gpu, dims);
    const launches = g.kernels.launches;
    const got = g.moeBlock(x.gpu as never, rg as never, up.map((u) => u.gpu) as never, down.map((d) => d.gpu) as never, upS.gpu as never, downS.gpu as never);
    if (N === 1) expect(g.kernels.launches - launches).toBe(Is % I === 0 ? 3 : 2); // up, down (, combine)
    if (N === 2) expect(g.kernels.launches - launches).toBe(2); // up, down
    expectClose(G(g).toFloat32(got as never), want, 1e-2, 'moe block');
  });

  // the batch-1 MoE layer (ops/moe-block1.ts: router + moe_up1, or moe_router_up1 (fused); then moe_down1_res) with
  // the norm before it and the residual add after it fused in, against cpu-ref's add -> rmsNorm -> moeRoute ->
  // experts + shared -> add; fused, twice in a row (moe_down1_res zeroes the router counter for the next layer)
  it.each([
    [true, 'split'],
    [false, 'split'],
    [true, 'fused'],
    [false, 'fused'],
  ])('moeLayer at batch 1 (top-6 of 8, real widths), residual add fused: %s, %s', (withAdd, mode) => {
    const knobs = ['NEMOTRON_CUDA_MOE_LAYER'];
    const saved = knobs.map((k) => process.env[k]);
    process.env.NEMOTRON_CUDA_MOE_LAYER = mode;
    try {
      for (let rep = 0; rep < (mode === 'split' ? 1 : 2); rep++) moeLayerCase(withAdd, mode === 'fused' ? 2 : 3);
    } finally {
      knobs.forEach((k, i) => {
        if (saved[i] === undefined) delete process.env[k];
        else process.env[k] = saved[i];
      });
    }
  });
  function moeLayerCase(withAdd: boolean, kernels: number): void {
    const g = b();
    const [E, K, H, I, Is] = [8, 6, 2688, 1856, 3712];
    const a = act(g, 50, [1, H], 2);
    const y = act(g, 51, [1, H], 2);
    const nw = act(g, 52, [H]);
    const gate = weight(g, 53, [E, H], 1 / Math.sqrt(H));
    const bias = act(g, 54, [E], 0.1);
    const dims = { experts: E, topK: K, nGroup: 1, topkGroup: 1, normTopkProb: true, scale: 2.5 };
    const up = Array.from({ length: E }, (_, e) => weight(g, 800 + e, [I, H], 1 / Math.sqrt(H)));
    const down = Array.from({ length: E }, (_, e) => weight(g, 900 + e, [H, I], 1 / Math.sqrt(I)));
    const upS = weight(g, 55, [Is, H], 1 / Math.sqrt(H));
    const downS = weight(g, 56, [H, Is], 1 / Math.sqrt(Is));
    const hRef = ref.add(a.cpu, y.cpu);
    const uRef = ref.rmsNorm(hRef, nw.cpu, 1e-5);
    const rc = ref.moeRoute(uRef, gate.cpu, bias.cpu, dims);
    const layer = ref.add(ref.moeExperts(uRef, rc, up.map((u) => u.cpu), down.map((d) => d.cpu)), ref.matmul(ref.relu2(ref.matmul(uRef, upS.cpu)), downS.cpu));
    const launches = g.kernels.launches;
    const h = G(g).add(a.gpu, y.gpu);
    const u = G(g).rmsNorm(h, nw.gpu, 1e-5);
    const out = g.moeLayer(u as never, gate.gpu as never, bias.gpu as never, dims, up.map((w) => w.gpu) as never, down.map((w) => w.gpu) as never, upS.gpu as never, downS.gpu as never);
    expect(out).not.toBeNull();
    if (withAdd) {
      const h2 = G(g).add(h, out as never);
      expect(g.kernels.launches - launches).toBe(kernels); // router (+ up), down + combine + residual
      expectClose(G(g).toFloat32(h2), ref.toFloat32(ref.add(hRef, layer)), 1e-4, 'h + layer');
    } else {
      expectClose(G(g).toFloat32(out as never), ref.toFloat32(layer), 1e-4, 'layer alone (flushed tail)');
      expect(g.kernels.launches - launches).toBe(kernels);
    }
    expectClose(G(g).toFloat32(u), ref.toFloat32(uRef), 1e-5, 'normalised row written by the first kernel');
  }

  it('argmax of vocabulary-long rows (two passes) equals the host argmax; ties go to the first index', () => {
    const g = b();
    const V = 131072;
    const rows = 3;
    const v = randn(40, rows * V, 1);
    v[5] = 50; v[V - 1] = 50; // row 0: tie, first wins
    v[V + 70000] = 60; // row 1: middle
    v[2 * V + V - 1] = 70; // row 2: last column
    const want = Array.from({ length: rows }, (_, r) => {
      let best = 0;
      for (let j = 1; j < V; j++) if (v[r * V + j] > v[r * V + best]) best = j;
      return best;
    });
    expect(want).toEqual([5, 70000, V - 1]);
    expect(Array.from(g.argmaxRows(g.fromFloat32(v, [rows, V])))).toEqual(want);
  });

  it('attention 32q/2kv x 128 over 300 cached tokens (cache growth), then two decode steps', () => {
    const g = b();
    const dims = { heads: 32, kvHeads: 2, headDim: 128 };
    const cc = [ref.newKvCache(dims), ref.newKvCache(dims)];
    const cg = [G(g).newKvCache(dims), G(g).newKvCache(dims)];
    let seed = 40;
    for (const lengths of [[300, 9], [1, 1], [1, 1]]) {
      const N = lengths.reduce((a, c) => a + c, 0);
      const q = act(g, seed++, [N, 32 * 128]);
      const k = act(g, seed++, [N, 2 * 128]);
      const v = act(g, seed++, [N, 2 * 128]);
      const want = ref.toFloat32(ref.attention(q.cpu, k.cpu, v.cpu, dims, segs(lengths), cc));
      expectClose(G(g).toFloat32(G(g).attention(q.gpu, k.gpu, v.gpu, dims, segs(lengths), cg)), want, 1e-3, `segments ${lengths}`);
      g.beginStep();
    }
    expect(cg[0].length).toBe(302);
  });
});
