/**
 * Causal GQA attention on the wasm kernels: per segment, the kernels read K/V in place from the cache's heap
 * blocks (SimdKvCache; a plain CpuKvCache is copied into scratch) and the queries from scratch; scores and the probability-
 * weighted sum of values run in wasm, the softmax (exp) on the host in float64. Queries go in chunks so that
 * the score block stays bounded for long prompts. Head size not a multiple of 4: the reordered JS loops.
 */
import type { AttnDims, Segment } from '../../../ops/ops.js';
import { CpuKvCache, CpuTensor } from '../ref/tensor.js';
import type { WasmHeap } from './heap.js';

const CHUNK_SCORES = 1 << 20; // floats of scores per chunk (4 MiB)

export function attentionSimd(heap: WasmHeap, q: CpuTensor, k: CpuTensor, v: CpuTensor, dims: AttnDims, segments: readonly Segment[], caches: readonly CpuKvCache[]): CpuTensor {
  const { heads, kvHeads, headDim: hd } = dims;
  if (hd % 4 !== 0) return attentionJs(q, k, v, dims, segments, caches);
  const kvw = kvHeads * hd;
  const qw = heads * hd;
  const perKv = heads / kvHeads;
  const scale = 1 / Math.sqrt(hd);
  const out = heap.out(q.data.length);
  for (let s = 0; s < segments.length; s++) {
    const seg = segments[s];
    const cache = caches[s];
    const past = cache.length;
    cache.append(k.data.subarray(seg.start * kvw), v.data.subarray(seg.start * kvw), seg.length);
    const L = cache.length;
    const chunk = Math.max(1, Math.min(seg.length, Math.floor(CHUNK_SCORES / (heads * L))));
    // scratch (floats): K [L kvw] | V [L kvw] (only when the cache is not in the heap) | q [chunk qw] | o [chunk qw] | scores [chunk heads L]
    let pk = heap.addr(cache.k);
    let pv = heap.addr(cache.v);
    const copyKv = pk < 0 || pv < 0;
    const kvFloats = copyKv ? 2 * L * kvw : 0;
    const base = heap.scratch((kvFloats + 2 * chunk * qw + chunk * heads * L) * 4) >> 2;
    const f = heap.f32;
    if (copyKv) {
      f.set(cache.k.subarray(0, L * kvw), base);
      f.set(cache.v.subarray(0, L * kvw), base + L * kvw);
      pk = base * 4;
      pv = (base + L * kvw) * 4;
    }
    const qB = base + kvFloats;
    const oB = qB + chunk * qw;
    const sB = oB + chunk * qw;
    for (let i0 = 0; i0 < seg.length; i0 += chunk) {
      const T = Math.min(chunk, seg.length - i0);
      const tok0 = seg.start + i0;
      f.set(q.data.subarray(tok0 * qw, (tok0 + T) * qw), qB);
      heap.k.attnScores(qB * 4, pk, sB * 4, T, past + i0, heads, hd * 4, kvw * 4, perKv, L * 4, scale);
      for (let i = 0; i < T; i++) {
        const vis = past + i0 + i + 1;
        for (let h = 0; h < heads; h++) {
          const row = sB + (i * heads + h) * L;
          let max = -Infinity;
          for (let j = 0; j < vis; j++) if (f[row + j] > max) max = f[row + j];
          let sum = 0;
          for (let j = 0; j < vis; j++) {
            const e = Math.exp(f[row + j] - max);
            f[row + j] = e;
            sum += e;
          }
          const inv = 1 / sum;
          for (let j = 0; j < vis; j++) f[row + j] *= inv;
        }
      }
      heap.k.attnOut(sB * 4, pv, oB * 4, T, past + i0, heads, hd * 4, kvw * 4, perKv, L * 4);
      out.set(f.subarray(oB, oB + T * qw), tok0 * qw);
    }
  }
  return new CpuTensor(out, q.shape);
}

/** The reference loops reordered for contiguous access (values accumulated by row into a float64 vector). */
function attentionJs(q: CpuTensor, k: CpuTensor, v: CpuTensor, dims: AttnDims, segments: readonly Segment[], caches: readonly CpuKvCache[]): CpuTensor {
  const { heads, kvHeads, headDim: hd } = dims;
  const kvw = kvHeads * hd;
  const qw = heads * hd;
  const perKv = heads / kvHeads;
  const scale = 1 / Math.sqrt(hd);
  const qd = q.data;
  const out = new Float32Array(qd.length);
  const acc = new Float64Array(hd);
  for (let s = 0; s < segments.length; s++) {
    const seg = segments[s];
    const cache = caches[s];
    const past = cache.length;
    cache.append(k.data.subarray(seg.start * kvw), v.data.subarray(seg.start * kvw), seg.length);
    const K = cache.k;
    const V = cache.v;
    const scores = new Float64Array(cache.length);
    for (let i = 0; i < seg.length; i++) {
      const tok = seg.start + i;
      const visible = past + i + 1;
      for (let h = 0; h < heads; h++) {
        const kvo = Math.floor(h / perKv) * hd;
        const qo = tok * qw + h * hd;
        let max = -Infinity;
        for (let j = 0; j < visible; j++) {
          const ko = j * kvw + kvo;
          let dot = 0;
          for (let e = 0; e < hd; e++) dot += qd[qo + e] * K[ko + e];
          const sc = dot * scale;
          scores[j] = sc;
          if (sc > max) max = sc;
        }
        let sum = 0;
        acc.fill(0);
        for (let j = 0; j < visible; j++) {
          const pj = Math.exp(scores[j] - max);
          sum += pj;
          const vo = j * kvw + kvo;
          for (let e = 0; e < hd; e++) acc[e] += pj * V[vo + e];
        }
        for (let e = 0; e < hd; e++) out[qo + e] = acc[e] / sum;
      }
    }
  }
  return new CpuTensor(out, q.shape);
}
