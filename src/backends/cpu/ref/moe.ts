/** Reference MoE router (sigmoid, correction bias for selection only, top-k, renorm, scale) and experts. */
import type { RouteDims, Routing } from '../../../ops/ops.js';
import { sigmoid } from './basic.js';
import { CpuTensor, t } from './tensor.js';

export function moeRoute(x: CpuTensor, gate: CpuTensor, bias: CpuTensor, dims: RouteDims): Routing<CpuTensor> {
  const { experts: E, topK, nGroup, topkGroup } = dims;
  const h = x.cols;
  const n = x.rows;
  const ids = new Float32Array(n * topK);
  const weights = new Float32Array(n * topK);
  const s = new Float64Array(E);
  const c = new Float64Array(E);
  const perGroup = E / nGroup;
  for (let r = 0; r < n; r++) {
    for (let e = 0; e < E; e++) {
      let acc = 0;
      for (let j = 0; j < h; j++) acc += x.data[r * h + j] * gate.data[e * h + j];
      s[e] = sigmoid(Math.fround(acc));
      c[e] = s[e] + bias.data[e];
    }
    if (nGroup > 1) {
      // group score = sum of its two best biased scores; keep the topkGroup best groups
      const groupScore = Array.from({ length: nGroup }, (_, g) => {
        const vals = Array.from(c.subarray(g * perGroup, (g + 1) * perGroup)).sort((a, b) => b - a);
        return vals[0] + (vals[1] ?? 0);
      });
      const keep = new Set(groupScore.map((v, g) => [v, g] as const).sort((a, b) => b[0] - a[0] || a[1] - b[1]).slice(0, topkGroup).map(([, g]) => g));
      for (let e = 0; e < E; e++) if (!keep.has(Math.floor(e / perGroup))) c[e] = -Infinity;
    }
    // top-k by biased score; ties go to the lower expert id
    const order = Array.from({ length: E }, (_, e) => e).sort((a, b) => c[b] - c[a] || a - b).slice(0, topK);
    let sum = 0;
    for (const e of order) sum += s[e];
    const norm = dims.normTopkProb ? 1 / (sum + 1e-20) : 1;
    order.forEach((e, k) => {
      ids[r * topK + k] = e;
      weights[r * topK + k] = s[e] * norm * dims.scale; // unbiased score (bias is for selection only)
    });
  }
  return { experts: t(ids, [n, topK]), weights: t(weights, [n, topK]) };
}

export function moeExperts(x: CpuTensor, routing: Routing<CpuTensor>, up: readonly CpuTensor[], down: readonly CpuTensor[]): CpuTensor {
  const h = x.cols;
  const n = x.rows;
  const topK = routing.experts.cols;
  const out = new Float64Array(n * h);
  for (let r = 0; r < n; r++) {
    const xr = x.data.subarray(r * h, (r + 1) * h);
    for (let k = 0; k < topK; k++) {
      const e = routing.experts.data[r * topK + k];
      const w = routing.weights.data[r * topK + k];
      const U = up[e];
      const D = down[e];
      const inter = U.shape[0];
      const act = new Float64Array(inter);
      for (let i = 0; i < inter; i++) {
        let acc = 0;
        for (let j = 0; j < h; j++) acc += U.data[i * h + j] * xr[j];
        const v = acc > 0 ? Math.fround(acc) : 0;
        act[i] = Math.fround(v * v);
      }
      for (let o = 0; o < h; o++) {
        let acc = 0;
        for (let i = 0; i < inter; i++) acc += D.data[o * inter + i] * act[i];
        out[r * h + o] += w * Math.fround(acc);
      }
    }
  }
  return t(Float32Array.from(out), x.shape);
}
