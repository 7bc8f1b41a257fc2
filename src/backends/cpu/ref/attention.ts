/** Reference causal GQA attention over a growing KV cache; no positional encoding (model-spec 4). */
import type { AttnDims, Segment } from '../../../ops/ops.js';
import { CpuKvCache, CpuTensor, t } from './tensor.js';

export function attention(q: CpuTensor, k: CpuTensor, v: CpuTensor, dims: AttnDims, segments: readonly Segment[], caches: readonly CpuKvCache[]): CpuTensor {
  const { heads, kvHeads, headDim: hd } = dims;
  const kvw = kvHeads * hd;
  const qw = heads * hd;
  const perKv = heads / kvHeads;
  const scale = 1 / Math.sqrt(hd);
  const out = new Float32Array(q.data.length);
  segments.forEach((seg, s) => {
    const cache = caches[s];
    const past = cache.length;
    cache.append(k.data.subarray(seg.start * kvw), v.data.subarray(seg.start * kvw), seg.length);
    const scores = new Float64Array(cache.length);
    for (let i = 0; i < seg.length; i++) {
      const tok = seg.start + i;
      const visible = past + i + 1; // causal: itself and everything before
      for (let h = 0; h < heads; h++) {
        const kvh = Math.floor(h / perKv);
        let max = -Infinity;
        for (let j = 0; j < visible; j++) {
          let dot = 0;
          for (let e = 0; e < hd; e++) dot += q.data[tok * qw + h * hd + e] * cache.k[j * kvw + kvh * hd + e];
          scores[j] = dot * scale;
          if (scores[j] > max) max = scores[j];
        }
        let sum = 0;
        for (let j = 0; j < visible; j++) {
          scores[j] = Math.exp(scores[j] - max);
          sum += scores[j];
        }
        for (let e = 0; e < hd; e++) {
          let acc = 0;
          for (let j = 0; j < visible; j++) acc += scores[j] * cache.v[j * kvw + kvh * hd + e];
          out[tok * qw + h * hd + e] = acc / sum;
        }
      }
    }
  });
  return t(out, q.shape);
}
