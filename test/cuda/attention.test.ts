import { expect, it } from 'vitest';
import type { CudaBackend } from '../../src/backends/cuda/backend.js';
import { DecodeGraphs } from '../../src/backends/cuda/graph.js';
import type { CudaKvCache, CudaTensor } from '../../src/backends/cuda/tensor.js';
import type { AttnDims, Segment } from '../../src/ops/ops.js';
import { randn } from '../ops/cases.js';
import { describeCuda, gpu, relErr } from './helpers.js';

// The attention kernels (tensor-core prefill, split-key decode + combine, SIMT fallback) against a float64
// reference computed here from the same inputs: prefill at the real shape, chunked prefill (past > 0), packed
// segments of different lengths and pasts, the fixtures' tiny shapes, decode at several contexts and in batches,
// and decode replayed through a CUDA graph while the caches grow. Outputs start as NaN (poisoned temporaries) and
// every cache row past its length is set to NaN after each call, so a missed write or an unmasked read of a row
// that is not there fails (relErr is Infinity on NaN).

const REAL: AttnDims = { heads: 32, kvHeads: 2, headDim: 128 };
const TOL = 2e-3; // TF32 operands: ~5e-4 measured on the CPU emulation at the real shape
const NAN32 = 0x7fc00000;

const segs = (lengths: readonly number[]): Segment[] => {
  let start = 0;
  return lengths.map((length) => ({ start: (start += length) - length, length }));
};

/** One sequence: its cache on the GPU and the same K/V rows (as given, unrounded) on the host. */
class Seq {
  k = new Float32Array(0);
  v = new Float32Array(0);
  length = 0;
  constructor(readonly cache: CudaKvCache, readonly kvw: number) {}
  append(k: Float32Array, v: Float32Array, from: number, n: number): void {
    const grow = (a: Float32Array) => {
      const b = new Float32Array(Math.max(a.length * 2, (this.length + n) * this.kvw));
      b.set(a.subarray(0, this.length * this.kvw));
      return b;
    };
    if ((this.length + n) * this.kvw > this.k.length) {
      this.k = grow(this.k);
      this.v = grow(this.v);
    }
    this.k.set(k.subarray(from * this.kvw, (from + n) * this.kvw), this.length * this.kvw);
    this.v.set(v.subarray(from * this.kvw, (from + n) * this.kvw), this.length * this.kvw);
    this.length += n;
  }
}

/** Float64 attention of one query row (head h) over the first `visible` rows of a sequence. */
function refRow(q: Float32Array, qOff: number, h: number, dims: AttnDims, seq: Seq, visible: number, out: Float64Array): void {
  const { headDim: hd, heads, kvHeads } = dims;
  const kvw = kvHeads * hd;
  const kh = Math.floor(h / (heads / kvHeads));
  const scores = new Float64Array(visible);
  let max = -Infinity;
  for (let j = 0; j < visible; j++) {
    let dot = 0;
    for (let e = 0; e < hd; e++) dot += q[qOff + e] * seq.k[j * kvw + kh * hd + e];
    scores[j] = dot / Math.sqrt(hd);
    max = Math.max(max, scores[j]);
  }
  let sum = 0;
  for (let j = 0; j < visible; j++) sum += scores[j] = Math.exp(scores[j] - max);
  out.fill(0);
  for (let j = 0; j < visible; j++) {
    const p = scores[j] / sum;
    for (let e = 0; e < hd; e++) out[e] += p * seq.v[j * kvw + kh * hd + e];
  }
}

function newSeqs(g: CudaBackend, dims: AttnDims, n: number): Seq[] {
  return Array.from({ length: n }, () => new Seq(g.newKvCache(dims) as CudaKvCache, dims.kvHeads * dims.headDim));
}

/** Sets every cache row past the length to NaN (rows no kernel may read unmasked). */
function poisonSlack(g: CudaBackend, seqs: readonly Seq[]): void {
  for (const { cache } of seqs) {
    const rows = cache.capacity - cache.length;
    if (rows <= 0) continue;
    g.dev.fill32(cache.k + cache.length * cache.width * 4, NAN32, rows * cache.width);
    g.dev.fill32(cache.v + cache.length * cache.width * 4, NAN32, rows * cache.width);
  }
}

interface StepOpts {
  /** Compare only these tokens of each segment (indices within the segment; default every token). */
  sample?: (segLength: number) => number[];
  /** Lay q, k, v out as column views of one packed [N, pad + q + gap + k + v] matrix. */
  packed?: { pad: number; gap: number };
}

/**
 * One attention call on `seqs` (segment i extends seqs[i]) with random q, k, v; returns the relative error of
 * the compared rows against the float64 reference.
 */
function step(g: CudaBackend, dims: AttnDims, seqs: readonly Seq[], lengths: readonly number[], seed: number, opts: StepOpts = {}): number {
  const { heads, kvHeads, headDim: hd } = dims;
  const qw = heads * hd;
  const kvw = kvHeads * hd;
  const N = lengths.reduce((a, b) => a + b, 0);
  const q = randn(seed, N * qw);
  const k = randn(seed + 1, N * kvw);
  const v = randn(seed + 2, N * kvw);
  g.beginStep();
  const made: CudaTensor[] = [];
  let qt: CudaTensor, kt: CudaTensor, vt: CudaTensor;
  if (opts.packed) {
    const { pad, gap } = opts.packed;
    const w = pad + qw + gap + 2 * kvw;
    const all = new Float32Array(N * w);
    for (let t = 0; t < N; t++) {
      all.set(q.subarray(t * qw, (t + 1) * qw), t * w + pad);
      all.set(k.subarray(t * kvw, (t + 1) * kvw), t * w + pad + qw + gap);
      all.set(v.subarray(t * kvw, (t + 1) * kvw), t * w + pad + qw + gap + kvw);
    }
    const x = g.fromFloat32(all, [N, w]);
    made.push(x);
    [, qt, , kt, vt] = g.splitCols(x, [pad, qw, gap, kvw, kvw]);
  } else {
    made.push((qt = g.fromFloat32(q, [N, qw])), (kt = g.fromFloat32(k, [N, kvw])), (vt = g.fromFloat32(v, [N, kvw])));
  }
  const segments = segs(lengths);
  const past = seqs.map((s) => s.length);
  segments.forEach((s, i) => seqs[i].append(k, v, s.start, s.length));
  const got = g.toFloat32(g.attention(qt, kt, vt, dims, segments, seqs.map((s) => s.cache)));
  made.forEach((t) => g.release(t));
  seqs.forEach((s) => expect(s.cache.length).toBe(s.length));
  poisonSlack(g, seqs);
  const want: number[] = [];
  const have: number[] = [];
  const row = new Float64Array(hd);
  segments.forEach((s, i) => {
    const tokens = opts.sample ? opts.sample(s.length) : Array.from({ length: s.length }, (_, t) => t);
    for (const t of tokens) {
      const tok = s.start + t;
      for (let h = 0; h < heads; h++) {
        refRow(q, tok * qw + h * hd, h, dims, seqs[i], past[i] + t + 1, row);
        for (let e = 0; e < hd; e++) {
          want.push(row[e]);
          have.push(got[tok * qw + h * hd + e]);
        }
      }
    }
  });
  expect(got.length).toBe(N * qw);
  return relErr(have, want);
}

/** The first and last tokens, and `n` spread in between. */
const spread = (n: number) => (len: number) => {
  const out = new Set([0, 1, len - 2, len - 1].filter((t) => t >= 0 && t < len));
  for (let i = 1; i <= n; i++) out.add(Math.floor((i * (len - 1)) / (n + 1)));
  return [...out].sort((a, b) => a - b);
};

describeCuda('attention kernels vs a float64 reference', () => {
  it('prefill of one 1536-token sequence at the real shape (32q/2kv x 128), sampled rows', () => {
    const g = gpu();
    const seqs = newSeqs(g, REAL, 1);
    const e = step(g, REAL, seqs, [1536], 100, { sample: spread(40) });
    expect(e, `relErr ${e}`).toBeLessThanOrEqual(TOL);
    g.release(seqs[0].cache);
  });

  it('chunked prefill at the real shape: 300 then 200 tokens (past > 0), then 1 and 77', () => {
    const g = gpu();
    const seqs = newSeqs(g, REAL, 1);
    let seed = 200;
    for (const len of [300, 200, 1, 77]) {
      const e = step(g, REAL, seqs, [len], (seed += 3), { sample: spread(30) });
      expect(e, `chunk of ${len} after ${seqs[0].length - len}: relErr ${e}`).toBeLessThanOrEqual(TOL);
    }
    g.release(seqs[0].cache);
  });

  it('packed segments of different lengths and pasts in one call (real shape, mixed with 1-token segments)', () => {
    const g = gpu();
    const seqs = newSeqs(g, REAL, 5);
    let seed = 300;
    const e0 = step(g, REAL, seqs.slice(1), [5, 130, 1, 64], (seed += 3)); // sequence 0 starts empty
    expect(e0, `setup relErr ${e0}`).toBeLessThanOrEqual(TOL);
    for (const lengths of [[1, 7, 64, 129, 3], [33, 1, 1, 250, 2]]) {
      const e = step(g, REAL, seqs, lengths, (seed += 3), { sample: spread(12) });
      expect(e, `segments ${lengths}: relErr ${e}`).toBeLessThanOrEqual(TOL);
    }
    seqs.forEach((s) => g.release(s.cache));
  });

  // the fixtures' shapes (4q/2kv x 16, 6q/2kv x 8), one kv head for 16 query heads, and head dims without a
  // tensor-core kernel (24, 12: SIMT fallback)
  const tiny: [string, AttnDims][] = [
    ['4q/2kv x 16', { heads: 4, kvHeads: 2, headDim: 16 }],
    ['6q/2kv x 8', { heads: 6, kvHeads: 2, headDim: 8 }],
    ['16q/1kv x 32', { heads: 16, kvHeads: 1, headDim: 32 }],
    ['3q/3kv x 64', { heads: 3, kvHeads: 3, headDim: 64 }],
    ['6q/2kv x 24 (fallback)', { heads: 6, kvHeads: 2, headDim: 24 }],
    ['2q/1kv x 12 (fallback)', { heads: 2, kvHeads: 1, headDim: 12 }],
  ];
  it.each(tiny)('%s: odd lengths, a chunk on top, then decode steps', (_name, dims) => {
    const g = gpu();
    const seqs = newSeqs(g, dims, 3);
    let seed = 400;
    for (const lengths of [[13, 1, 29], [5, 2, 40], [1, 1, 1], [1, 1, 1], [1, 1, 1], [300, 1, 7], [1, 1, 1]]) {
      const e = step(g, dims, seqs, lengths, (seed += 3));
      expect(e, `segments ${lengths}: relErr ${e}`).toBeLessThanOrEqual(TOL);
    }
    seqs.forEach((s) => g.release(s.cache));
  });

  it('decode at the real shape: contexts 1, 33 and 2000 alone, then a batch of 4 with different lengths', () => {
    const g = gpu();
    const seqs = newSeqs(g, REAL, 4);
    let seed = 500;
    // the first token of sequence 0 is a decode step on an empty cache (context 1)
    expect(step(g, REAL, [seqs[0]], [1], (seed += 3))).toBeLessThanOrEqual(TOL);
    step(g, REAL, seqs.slice(1), [32, 1999, 516], (seed += 3), { sample: () => [] }); // fill (checked elsewhere)
    for (const s of seqs.slice(1)) {
      const e = step(g, REAL, [s], [1], (seed += 3));
      expect(e, `context ${s.length}: relErr ${e}`).toBeLessThanOrEqual(TOL);
    }
    for (let i = 0; i < 3; i++) {
      const e = step(g, REAL, seqs, [1, 1, 1, 1], (seed += 3));
      expect(e, `batch step ${i} (contexts ${seqs.map((s) => s.length)}): relErr ${e}`).toBeLessThanOrEqual(TOL);
    }
    seqs.forEach((s) => g.release(s.cache));
  });

  // aligned views (fast kernels with row stride > width), k/v misaligned (decode through kv_append), all
  // misaligned (SIMT fallback)
  it.each([[4, 0], [4, 1], [1, 0]])('q, k, v as column views of one packed matrix (pad %i, gap %i)', (pad, gap) => {
    const g = gpu();
    const seqs = newSeqs(g, REAL, 2);
    let seed = 600 + pad * 10 + gap;
    for (const lengths of [[70, 9], [1, 1], [1, 1]]) {
      const e = step(g, REAL, seqs, lengths, (seed += 3), { packed: { pad, gap } });
      expect(e, `pad ${pad} gap ${gap}, segments ${lengths}: relErr ${e}`).toBeLessThanOrEqual(TOL);
    }
    seqs.forEach((s) => g.release(s.cache));
  });

  it('decode of a batch of 3 replayed through a CUDA graph while the caches grow past their capacity', () => {
    const g = gpu();
    const dims = REAL;
    const { heads, kvHeads, headDim: hd } = dims;
    const seqs = newSeqs(g, dims, 3);
    step(g, dims, seqs, [250, 252, 1], 700, { sample: () => [] }); // capacities 256: the replays grow two caches
    const N = 3;
    const qw = heads * hd;
    const kvw = kvHeads * hd;
    const qt = g.fromFloat32(new Float32Array(N * qw), [N, qw]);
    const kt = g.fromFloat32(new Float32Array(N * kvw), [N, kvw]);
    const vt = g.fromFloat32(new Float32Array(N * kvw), [N, kvw]);
    const graphs = new DecodeGraphs(g);
    const row = new Float64Array(hd);
    for (let i = 0; i < 9; i++) {
      const q = randn(710 + 3 * i, N * qw);
      const k = randn(711 + 3 * i, N * kvw);
      const v = randn(712 + 3 * i, N * kvw);
      g.dev.upload(qt.ptr, q);
      g.dev.upload(kt.ptr, k);
      g.dev.upload(vt.ptr, v);
      seqs.forEach((s, b) => s.append(k, v, b, 1));
      const out = graphs.run('decode3', () => {
        g.beginStep();
        return g.attention(qt, kt, vt, dims, segs([1, 1, 1]), seqs.map((s) => s.cache));
      });
      const got = g.toFloat32(out);
      poisonSlack(g, seqs);
      const want: number[] = [];
      seqs.forEach((s, b) => {
        expect(s.cache.length).toBe(s.length);
        for (let h = 0; h < heads; h++) {
          refRow(q, b * qw + h * hd, h, dims, s, s.length, row);
          want.push(...row);
        }
      });
      const e = relErr(got, want);
      expect(e, `graph step ${i} (contexts ${seqs.map((s) => s.length)}): relErr ${e}`).toBeLessThanOrEqual(TOL);
    }
    expect(graphs.stats.replayed).toBeGreaterThan(0);
    [qt, kt, vt].forEach((t) => g.release(t));
    seqs.forEach((s) => g.release(s.cache));
  });

  it('8192-token prefill and decode at 8K context, real shape (sampled rows); prints GPU times', () => {
    const g = gpu({ poison: false }); // no NaN fills inside the timed op
    const prof = g.enableProfiling();
    const gpuMs = (fn: () => void) => {
      prof.reset();
      fn();
      prof.collect();
      return prof.totals.get('attention')?.ms ?? NaN;
    };
    const warm = newSeqs(g, REAL, 1);
    step(g, REAL, warm, [300], 800, { sample: () => [] }); // kernels compiled and loaded before any timing
    step(g, REAL, warm, [1], 801, { sample: () => [] });
    g.release(warm[0].cache);
    const times: number[] = [];
    let seqs: Seq[] = [];
    for (let rep = 0; rep < 3; rep++) {
      seqs.forEach((s) => g.release(s.cache));
      seqs = newSeqs(g, REAL, 1);
      let e = 0;
      times.push(gpuMs(() => (e = step(g, REAL, seqs, [8192], 810, { sample: rep === 0 ? spread(6) : () => [] }))));
      expect(e, `relErr ${e}`).toBeLessThanOrEqual(TOL);
    }
    // decode steps through a graph, as the engine runs them
    const { heads, kvHeads, headDim: hd } = REAL;
    const qt = g.fromFloat32(randn(820, heads * hd), [1, heads * hd]);
    const kt = g.fromFloat32(randn(821, kvHeads * hd), [1, kvHeads * hd]);
    const vt = g.fromFloat32(randn(822, kvHeads * hd), [1, kvHeads * hd]);
    /** Mean GPU time of a graph-replayed decode step (each run reads the previous replay's events). */
    const decodeUs = (seq: Seq, steps: number) => {
      const graphs = new DecodeGraphs(g);
      graphs.timeGpu = true;
      for (let i = 0; i < steps; i++) {
        graphs.run('decode1', () => {
          g.beginStep();
          return g.attention(qt, kt, vt, REAL, segs([1]), [seq.cache]);
        });
      }
      g.dev.sync();
      graphs.clear();
      return (graphs.stats.gpuMs / graphs.stats.timedReplays) * 1000;
    };
    const at8k = decodeUs(seqs[0], 40);
    const short = newSeqs(g, REAL, 1);
    step(g, REAL, short, [32], 830, { sample: () => [] });
    const at33 = decodeUs(short[0], 40);
    console.warn(
      `[attention timing] prefill 8192 tokens: ${times.map((t) => t.toFixed(2)).join(' / ')} ms per layer (incl. kv append); ` +
        `graph decode step, batch 1: ${at33.toFixed(1)} us at context ~33-73, ${at8k.toFixed(1)} us at ~8.2K (incl. metadata upload)`,
    );
    [qt, kt, vt].forEach((t) => g.release(t));
    [...seqs, ...short].forEach((s) => g.release(s.cache));
  });
});
