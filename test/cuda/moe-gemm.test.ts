import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CpuRefBackend } from '../../src/backends/cpu/ref/backend.js';
import { CpuTensor } from '../../src/backends/cpu/ref/tensor.js';
import type { CudaBackend } from '../../src/backends/cuda/backend.js';
import { check, type Handle } from '../../src/backends/cuda/ffi/driver.js';
import { DecodeGraphs } from '../../src/backends/cuda/graph.js';
import { kernelDir, parseKernels, type Dim } from '../../src/backends/cuda/launch.js';
import { moeGroupedExperts, moeTileFor, type MoeGroupedArgs, type MoeTile } from '../../src/backends/cuda/ops/moe-gemm.js';
import { pointerTable } from '../../src/backends/cuda/ops/moe.js';
import { CudaTensor, type CudaCtx } from '../../src/backends/cuda/tensor.js';
import { randn } from '../ops/cases.js';
import { describeCuda, gpu, relErr, toBf16 } from './helpers.js';

// The grouped tensor-core MoE experts (ops/moe-gemm.ts, kernels/moe_gemm.cu) against the CPU reference's
// moeExperts: the real Nano shape (H 2688, I 1856, 128 experts, top-6) and reduced ones with K-dims that are not
// multiples of the tile depth, uniform and skewed routings (most tokens on 3 experts, half the experts empty), every
// tile shape, bf16 (1e-2) and precise (1e-3) activations; then graph capture and replay with other routings.
// Temporaries are NaN-poisoned. Above 16 tokens the reference is computed for a sample of 16 tokens only (each
// output row depends only on its own token; every output is checked to be finite), so that large N stays cheap on
// the CPU.

const ref = new CpuRefBackend();
const TILES: MoeTile[] = ['s', 'm', 'l'];

describe('moe-gemm launches (no GPU needed)', () => {
  const sigs = parseKernels('moe_gemm.cu', readFileSync(join(kernelDir(), 'moe_gemm.cu'), 'utf8'));
  /** A context that records launches and checks them against the kernel signatures; scratch is fake addresses. */
  const recorder = () => {
    const launches: { name: string; grid: number; block: number }[] = [];
    const c = {
      dev: { mode: 'eager' },
      blocks: (n: number, per = 256) => Math.max(1, Math.min(Math.ceil(n / per), 132 * 16)),
      kernels: {
        launch(name: string, grid: number, block: number, args: readonly (number | null)[]) {
          const sig = sigs.get(name);
          if (!sig) throw new Error(`no kernel ${name} in moe_gemm.cu`);
          if (sig.params.length !== args.length) throw new Error(`${name}: ${args.length} arguments for ${sig.params.length} parameters`);
          launches.push({ name, grid, block });
        },
      },
    } as unknown as CudaCtx;
    let next = 1 << 20;
    const scratch = (b: number) => ((next += Math.ceil(b / 256) * 256 + 256), next);
    return { c, launches, scratch };
  };
  const x = (N: number, H: number) => new CudaTensor([N, H], 'f32', 256, H, -1, null);

  it.each(TILES)('tile %s: five launches whose arguments match the signatures; grids sized from N, K, E only', (tile) => {
    const { c, launches, scratch } = recorder();
    const args: MoeGroupedArgs = { x: x(300, 2688), ids: 1, wts: 2, upTable: 3, downTable: 4, out: 5, K: 6, E: 128, I: 1856, precise: true, tile };
    expect(moeGroupedExperts(c, args, scratch)).toBe(true);
    expect(launches.map((l) => l.name)).toEqual(['moe_gemm_route', 'moe_gemm_x_bf16', `moe_gemm_up_${tile}_p`, `moe_gemm_down_${tile}_p`, 'moe_gemm_combine']);
    const bm = { s: 16, m: 64, l: 128 }[tile];
    const bn = { s: 64, m: 128, l: 128 }[tile];
    const T = Math.ceil(1800 / bm) + 128;
    expect(launches[2].grid).toBe(T * Math.ceil(1856 / bn));
    expect(launches[3].grid).toBe(T * Math.ceil(2688 / bn));
    expect(moeGroupedExperts(c, { ...args, precise: false }, scratch)).toBe(true);
    expect(launches[7].name).toBe(`moe_gemm_up_${tile}`);
  });

  it('declines shapes it does not handle, and picks the tile shape by rows per expert', () => {
    const { c, launches, scratch } = recorder();
    const base: MoeGroupedArgs = { x: x(4, 64), ids: 1, wts: 2, upTable: 3, downTable: 4, out: 5, K: 2, E: 8, I: 32, precise: false };
    expect(moeGroupedExperts(c, { ...base, I: 36 }, scratch)).toBe(false);
    expect(moeGroupedExperts(c, { ...base, x: x(4, 60) }, scratch)).toBe(false);
    expect(moeGroupedExperts(c, { ...base, E: 300 }, scratch)).toBe(false);
    expect(launches).toHaveLength(0);
    expect(moeGroupedExperts(c, { ...base, x: x(0, 64) }, scratch)).toBe(true);
    expect(launches).toHaveLength(0);
    expect([moeTileFor(64 * 6, 128), moeTileFor(512 * 6, 128), moeTileFor(8192 * 6, 128)]).toEqual(['s', 'm', 'l']);
  });
});

/** Seeded routing: K distinct experts per token; 'skewed' sends 90% of slots 0-1 to 3 hot experts and the rest to the lower half. */
function routing(N: number, K: number, E: number, seed: number, kind: 'uniform' | 'skewed' | 'one'): { ids: Int32Array; w: Float32Array } {
  let s = seed >>> 0;
  const rnd = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 4294967296);
  const hot = [3 % E, E >> 1, E - 1];
  const ids = new Int32Array(N * K);
  const w = new Float32Array(N * K);
  for (let n = 0; n < N; n++) {
    const used = new Set<number>();
    for (let k = 0; k < K; k++) {
      let e: number;
      if (kind === 'one') e = k % E;
      else if (kind === 'skewed' && k < 2 && rnd() < 0.9) e = hot[Math.floor(rnd() * 3)];
      else e = Math.floor(rnd() * (kind === 'skewed' ? Math.max(1, E >> 1) : E));
      for (let t = 0; used.has(e) && used.size < E && t < 1000; t++) e = Math.floor(rnd() * E);
      used.add(e);
      ids[n * K + k] = e;
      w[n * K + k] = 0.05 + rnd();
    }
  }
  return { ids, w };
}

interface Experts {
  upC: CpuTensor[];
  downC: CpuTensor[];
  upT: number;
  downT: number;
}

/**
 * E distinct bf16 experts without E full copies on the host: expert e's matrices are windows of one random matrix
 * starting 8 rows after expert e - 1's (up [I, H] windows of [I + 8 (E - 1), H]; down likewise).
 */
const expertCache = new Map<string, Experts>();
function experts(g: CudaBackend, E: number, H: number, I: number, seed: number): Experts {
  const key = [E, H, I, seed].join();
  const hit = expertCache.get(key);
  if (hit) return hit;
  const s = 8;
  const up = toBf16(randn(seed, (I + s * (E - 1)) * H, 1 / Math.sqrt(H)));
  const down = toBf16(randn(seed + 1, (H + s * (E - 1)) * I, 1 / Math.sqrt(I)));
  const upG = g.fromBytes(up.bytes, 'BF16', [I + s * (E - 1), H]);
  const downG = g.fromBytes(down.bytes, 'BF16', [H + s * (E - 1), I]);
  expect(upG.dtype).toBe('bf16');
  const es = Array.from({ length: E }, (_, e) => e);
  const ex: Experts = {
    upC: es.map((e) => new CpuTensor(up.values.subarray(e * s * H, e * s * H + I * H), [I, H])),
    downC: es.map((e) => new CpuTensor(down.values.subarray(e * s * I, e * s * I + H * I), [H, I])),
    upT: pointerTable(g, es.map((e) => new CudaTensor([I, H], 'bf16', upG.ptr + e * s * H * 2, H, -1, null))),
    downT: pointerTable(g, es.map((e) => new CudaTensor([H, I], 'bf16', downG.ptr + e * s * I * 2, I, -1, null))),
  };
  expertCache.set(key, ex);
  return ex;
}

/** cpu-ref moeExperts for the given tokens only: [tokens.length, H]. */
function reference(x: Float32Array, H: number, K: number, r: { ids: Int32Array; w: Float32Array }, tokens: number[], ex: Experts): Float32Array {
  const xs = new Float32Array(tokens.length * H);
  const ids = new Float32Array(tokens.length * K);
  const w = new Float32Array(tokens.length * K);
  tokens.forEach((n, i) => {
    xs.set(x.subarray(n * H, (n + 1) * H), i * H);
    for (let k = 0; k < K; k++) {
      ids[i * K + k] = r.ids[n * K + k];
      w[i * K + k] = r.w[n * K + k];
    }
  });
  const routingC = { experts: new CpuTensor(ids, [tokens.length, K]), weights: new CpuTensor(w, [tokens.length, K]) };
  return ref.moeExperts(new CpuTensor(xs, [tokens.length, H]), routingC, ex.upC, ex.downC).data;
}

/** Scratch filled with NaN (as f32 and as bf16 pairs; as int32 a huge index) so that anything read unwritten shows. */
const poisoned = (g: CudaBackend, scratch: (b: number) => number) => (bytes: number) => {
  const p = scratch(bytes);
  g.dev.fill32(p, 0x7fc07fc0, Math.ceil(bytes / 4));
  return p;
};

/** Device inputs for one call. */
function inputs(g: CudaBackend, x: Float32Array, N: number, H: number, r: { ids: Int32Array; w: Float32Array }) {
  const xT = g.fromFloat32(x, [N, H]);
  const idsT = g.persistent([r.ids.length], 'i32');
  g.dev.upload(idsT.ptr, r.ids);
  const wT = g.fromFloat32(r.w, [r.w.length]);
  return { xT, idsT, wT, release: () => [xT, idsT, wT].forEach((t) => g.release(t)) };
}

function runGpu(g: CudaBackend, io: ReturnType<typeof inputs>, ex: Experts, K: number, E: number, I: number, precise: boolean, tile?: MoeTile): Float32Array {
  const out = g.alloc([io.xT.rows, io.xT.cols]);
  const ok = g.withScratch((s) =>
    moeGroupedExperts(g, { x: io.xT, ids: io.idsT.ptr, wts: io.wT.ptr, upTable: ex.upT, downTable: ex.downT, out: out.ptr, K, E, I, precise, tile }, poisoned(g, s)));
  expect(ok).toBe(true);
  return g.toFloat32(out);
}

/** Tokens the reference checks: all up to 16, else the first, the last and a spread sample of 16. */
function sample(N: number): number[] {
  if (N <= 16) return Array.from({ length: N }, (_, n) => n);
  const set = new Set([0, N - 1]);
  for (let i = 1; set.size < 16; i++) set.add(Math.floor((i * 0.618034 * N) % N));
  return [...set].sort((a, b) => a - b);
}

describeCuda('moe-gemm: grouped tensor-core experts vs cpu-ref', () => {
  const cases: Array<{ N: number; K: number; E: number; H: number; I: number; kind: 'uniform' | 'skewed' }> = [
    { N: 1, K: 6, E: 128, H: 2688, I: 1856, kind: 'uniform' },
    { N: 8, K: 6, E: 128, H: 2688, I: 1856, kind: 'uniform' },
    { N: 64, K: 6, E: 128, H: 2688, I: 1856, kind: 'skewed' },
    { N: 257, K: 6, E: 128, H: 2688, I: 1856, kind: 'uniform' },
    { N: 2048, K: 6, E: 128, H: 2688, I: 1856, kind: 'skewed' },
    { N: 5, K: 2, E: 8, H: 64, I: 32, kind: 'uniform' }, // fixture-like
    { N: 7, K: 3, E: 6, H: 48, I: 24, kind: 'skewed' },
    { N: 3, K: 2, E: 4, H: 8, I: 8, kind: 'uniform' },
    { N: 1000, K: 6, E: 128, H: 264, I: 200, kind: 'skewed' }, // K-dims not multiples of 16 / 32 / 64
    { N: 2049, K: 4, E: 16, H: 136, I: 328, kind: 'uniform' }, // ~500 rows per expert: several 128-row tiles
  ];
  it.each(cases)('N=$N top-$K of E=$E, H=$H I=$I, $kind routing: every tile shape, bf16 and precise', ({ N, K, E, H, I, kind }) => {
    const g = gpu();
    g.beginStep();
    const ex = experts(g, E, H, I, 1000);
    const x = randn(N + H, N * H);
    const r = routing(N, K, E, N * 7 + E, kind);
    const tokens = sample(N);
    const want = reference(x, H, K, r, tokens, ex);
    const io = inputs(g, x, N, H, r);
    for (const precise of [false, true]) {
      const outs = TILES.map((tile) => runGpu(g, io, ex, K, E, I, precise, tile));
      for (const [t, got] of outs.entries()) {
        const picked = new Float32Array(tokens.length * H);
        tokens.forEach((n, i) => picked.set(got.subarray(n * H, (n + 1) * H), i * H));
        const e = relErr(picked, want);
        expect(e, `tile ${TILES[t]} precise ${precise}: relative error ${e}`).toBeLessThanOrEqual(precise ? 1e-3 : 1e-2);
        expect(got.every(Number.isFinite), `tile ${TILES[t]}: non-finite output`).toBe(true);
        // every tile shape sums the same k16 steps in the same order: the same values up to last-bit effects
        expect(relErr(got, outs[0]), `tile ${TILES[t]} vs s`).toBeLessThanOrEqual(1e-6);
      }
      // deterministic: a second run (rows of an expert may land in another order) gives the same bits
      const again = runGpu(g, io, ex, K, E, I, precise);
      expect(Buffer.from(again.buffer).equals(Buffer.from(outs[TILES.indexOf(moeTileFor(N * K, E))].buffer))).toBe(true);
    }
    io.release();
  });

  it('ids outside [0, E) add nothing', () => {
    const g = gpu();
    g.beginStep();
    const [N, K, E, H, I] = [9, 3, 8, 64, 40];
    const ex = experts(g, E, H, I, 77);
    const x = randn(5, N * H);
    const r = routing(N, K, E, 9, 'uniform');
    r.ids[0] = -1;
    r.ids[N * K - 1] = E;
    const kept = { ids: r.ids.map((e) => (e < 0 || e >= E ? 0 : e)), w: r.w.map((v, p) => (r.ids[p] < 0 || r.ids[p] >= E ? 0 : v)) };
    const want = reference(x, H, K, kept, sample(N), ex);
    const io = inputs(g, x, N, H, r);
    expect(relErr(runGpu(g, io, ex, K, E, I, true), want)).toBeLessThanOrEqual(1e-3);
    io.release();
  });

  it('graph-capturable: eager, capture, then replays with other routings give the eager results', () => {
    const g = gpu();
    g.beginStep();
    const [N, K, E, H, I] = [64, 6, 128, 2688, 1856];
    const ex = experts(g, E, H, I, 3000);
    const xT = g.persistent([N, H]);
    const idsT = g.persistent([N * K], 'i32');
    const wT = g.persistent([N * K]);
    const call = (precise: boolean) => {
      const out = g.alloc([N, H]);
      g.withScratch((s) => moeGroupedExperts(g, { x: xT, ids: idsT.ptr, wts: wT.ptr, upTable: ex.upT, downTable: ex.downT, out: out.ptr, K, E, I, precise }, s));
      return out;
    };
    for (const precise of [false, true]) {
      const graphs = new DecodeGraphs(g);
      const step = () => {
        g.beginStep();
        return call(precise);
      };
      const kinds = ['uniform', 'skewed', 'one', 'uniform', 'skewed'] as const;
      for (const [i, kind] of kinds.entries()) {
        const r = routing(N, K, E, 100 + i, kind);
        g.dev.upload(xT.ptr, randn(200 + i, N * H));
        g.dev.upload(idsT.ptr, r.ids);
        g.dev.upload(wT.ptr, r.w);
        const got = g.toFloat32(graphs.run(`moe-gemm-${precise}`, step));
        g.beginStep();
        const want = g.toFloat32(call(precise));
        expect(Buffer.from(got.buffer).equals(Buffer.from(want.buffer)), `step ${i} (${kind})`).toBe(true);
        expect(got.every(Number.isFinite)).toBe(true);
      }
      expect(graphs.stats).toMatchObject({ eager: 1, captured: 1, replayed: 3 });
      graphs.clear();
    }
    // dry mode (a replay's host pass): launches nothing and reads nothing back
    g.beginStep();
    const launches = g.kernels.launches;
    g.dev.mode = 'dry';
    try {
      call(true);
    } finally {
      g.dev.mode = 'eager';
    }
    expect(g.kernels.launches).toBe(launches);
    [xT, idsT, wT].forEach((t) => g.release(t));
  });
});

/** GPU milliseconds per kernel name of the launches `fn` makes through `c` (events around each launch). */
function kernelTimes(g: CudaBackend, fn: (c: CudaCtx) => void): Map<string, number> {
  const drv = g.dev.drv;
  const marks: { name: string; a: Handle; b: Handle }[] = [];
  const event = () => {
    const p: [Handle | null] = [null];
    check(drv.cuEventCreate(p, 0), 'cuEventCreate');
    return p[0]!;
  };
  const c = Object.create(g, {
    kernels: {
      value: {
        resident: (name: string, block: number, shmem?: number) => g.kernels.resident(name, block, shmem),
        launch: (name: string, grid: Dim, block: number, args: readonly (number | null)[], shmem?: number) => {
          const m = { name, a: event(), b: event() };
          check(drv.cuEventRecord(m.a, g.dev.stream), 'cuEventRecord');
          g.kernels.launch(name, grid, block, args, shmem);
          check(drv.cuEventRecord(m.b, g.dev.stream), 'cuEventRecord');
          marks.push(m);
        },
      },
    },
  }) as CudaCtx;
  fn(c);
  g.dev.sync();
  const out = new Map<string, number>();
  for (const m of marks) {
    const ms: [number] = [0];
    check(drv.cuEventElapsedTime(ms, m.a, m.b), 'cuEventElapsedTime');
    out.set(m.name, (out.get(m.name) ?? 0) + ms[0]); // (the events are not destroyed: a few per test)
  }
  return out;
}

describeCuda('moe-gemm speed at the real shape (logged, not asserted)', () => {
  it.each<{ N: number; precise: boolean; tile?: MoeTile }>([
    { N: 8192, precise: false },
    { N: 8192, precise: true },
    { N: 8192, precise: false, tile: 'm' },
    { N: 2048, precise: false },
    { N: 512, precise: false },
    { N: 512, precise: false, tile: 's' },
    { N: 512, precise: false, tile: 'l' },
    { N: 64, precise: false },
    { N: 64, precise: true },
    { N: 64, precise: false, tile: 'm' },
    { N: 16, precise: false },
    { N: 1, precise: false },
  ])('N=$N precise=$precise tile=$tile', ({ N, precise, tile }) => {
    const g = gpu();
    g.beginStep();
    const [K, E, H, I] = [6, 128, 2688, 1856];
    const upAll = g.randomTensor([E * I, H], 'bf16', -0.02, 0.02, 11);
    const downAll = g.randomTensor([E * H, I], 'bf16', -0.02, 0.02, 12);
    const es = Array.from({ length: E }, (_, e) => e);
    const upT = pointerTable(g, es.map((e) => new CudaTensor([I, H], 'bf16', upAll.ptr + e * I * H * 2, H, -1, null)));
    const downT = pointerTable(g, es.map((e) => new CudaTensor([H, I], 'bf16', downAll.ptr + e * H * I * 2, I, -1, null)));
    const x = g.randomTensor([N, H], 'f32', -1, 1, 13);
    const r = routing(N, K, E, 5, 'uniform');
    const idsT = g.persistent([N * K], 'i32');
    g.dev.upload(idsT.ptr, r.ids);
    const wT = g.fromFloat32(r.w, [N * K]);
    const out = g.persistent([N, H]);
    const call = (c: CudaCtx) => c.withScratch((s) => moeGroupedExperts(c, { x, ids: idsT.ptr, wts: wT.ptr, upTable: upT, downTable: downT, out: out.ptr, K, E, I, precise, tile }, s));
    call(g); // compile, warm up
    g.dev.sync();
    const reps = N >= 4096 ? 5 : 20;
    const t0 = performance.now();
    for (let i = 0; i < reps; i++) call(g);
    g.dev.sync();
    const ms = (performance.now() - t0) / reps;
    const times = kernelTimes(g, call);
    const active = new Set(r.ids).size;
    const flop = N * K * 4 * H * I;
    const wBytes = active * 2 * H * I * 2;
    const per = [...times].map(([k, v]) => `${k.replace('moe_gemm_', '')} ${v.toFixed(3)}`).join(', ');
    console.log(
      `moe-gemm N=${N} ${precise ? 'precise' : 'bf16'} tile ${tile ?? moeTileFor(N * K, E)}: ${ms.toFixed(3)} ms/layer, ${(flop / ms / 1e9).toFixed(0)} TFLOP/s effective, ` +
        `${active} experts = ${(wBytes / 1e6).toFixed(0)} MB of weights -> ${(wBytes / ms / 1e9).toFixed(2)} TB/s; kernels (ms): ${per}`,
    );
    expect(g.toFloat32(out).every(Number.isFinite)).toBe(true);
    [upAll, downAll, x, idsT, wT, out].forEach((t) => g.release(t));
  });
});
