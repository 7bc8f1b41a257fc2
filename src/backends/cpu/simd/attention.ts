/**
 * Causal GQA attention over the reference KV cache with the loops reordered for contiguous access: scores per
 * key row, then the value rows accumulated into a float64 output row (the reference walks values by column).
 */
import type { AttnDims, Segment } from '../../../ops/ops.js';
import { CpuKvCache, CpuTensor } from '../ref/tensor.js';

export function attentionFast(q: CpuTensor, k: CpuTensor, v: CpuTensor, dims: AttnDims, segments: readonly Segment[], caches: readonly CpuKvCache[]): CpuTensor {
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
      const visible = past + i + 1; // causal: itself and everything before
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
