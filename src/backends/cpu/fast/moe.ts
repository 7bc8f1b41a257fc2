/**
 * Faster MoE experts: tokens are grouped by expert, and each selected expert runs one matmul over its tokens
 * (the token permutation a GPU kernel does), instead of one matrix-vector product per (token, k).
 */
import type { Routing } from '../../../ops/ops.js';
import { relu2 } from '../ref/basic.js';
import { CpuTensor } from '../ref/tensor.js';
import { matmulFast } from './matmul.js';

export function moeExpertsFast(x: CpuTensor, routing: Routing<CpuTensor>, up: readonly CpuTensor[], down: readonly CpuTensor[]): CpuTensor {
  const h = x.cols;
  const n = x.rows;
  const topK = routing.experts.cols;
  const byExpert = new Map<number, Array<{ row: number; weight: number }>>();
  for (let r = 0; r < n; r++) {
    for (let k = 0; k < topK; k++) {
      const e = routing.experts.data[r * topK + k];
      let list = byExpert.get(e);
      if (!list) byExpert.set(e, (list = []));
      list.push({ row: r, weight: routing.weights.data[r * topK + k] });
    }
  }
  const out = new Float64Array(n * h);
  for (const [e, list] of byExpert) {
    const xs = new Float32Array(list.length * h); // [tokens of e, H]
    list.forEach((t, i) => xs.set(x.data.subarray(t.row * h, (t.row + 1) * h), i * h));
    const y = matmulFast(relu2(matmulFast(new CpuTensor(xs, [list.length, h]), up[e])), down[e]); // [tokens of e, H]
    list.forEach((t, i) => {
      for (let j = 0; j < h; j++) out[t.row * h + j] += t.weight * y.data[i * h + j];
    });
  }
  return new CpuTensor(Float32Array.from(out), x.shape);
}
