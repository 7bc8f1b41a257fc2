/**
 * MoE experts on the SIMD matmul: tokens grouped by expert, one up and one down matmul per selected expert
 * over its tokens, weighted scatter-add back (float64, as the reference).
 */
import type { Routing } from '../../../ops/ops.js';
import { CpuTensor } from '../ref/tensor.js';
import type { WasmHeap } from './heap.js';
import { matmulRaw, weightRef } from './matmul.js';

export function moeExpertsSimd(heap: WasmHeap, x: CpuTensor, routing: Routing<CpuTensor>, up: readonly CpuTensor[], down: readonly CpuTensor[]): CpuTensor {
  const h = x.cols;
  const n = x.rows;
  const topK = routing.experts.cols;
  const rows: number[][] = up.map(() => []);
  const wts: number[][] = up.map(() => []);
  for (let r = 0; r < n; r++) {
    for (let k = 0; k < topK; k++) {
      const e = routing.experts.data[r * topK + k];
      rows[e].push(r);
      wts[e].push(routing.weights.data[r * topK + k]);
    }
  }
  const out = new Float64Array(n * h);
  for (let e = 0; e < up.length; e++) {
    const list = rows[e];
    const m = list.length;
    if (m === 0) continue;
    const [inter] = up[e].shape;
    let xs: Float32Array; // [m, H]
    if (m === n && n === 1) xs = x.data;
    else {
      xs = new Float32Array(m * h);
      for (let i = 0; i < m; i++) xs.set(x.data.subarray(list[i] * h, (list[i] + 1) * h), i * h);
    }
    const a = matmulRaw(heap, xs, m, h, weightRef(heap, up[e].data, inter, h), inter); // [m, I]
    for (let i = 0; i < a.length; i++) {
      const v = a[i] > 0 ? a[i] : 0;
      a[i] = v * v;
    }
    const y = matmulRaw(heap, a, m, inter, weightRef(heap, down[e].data, h, inter), h); // [m, H]
    const wl = wts[e];
    for (let i = 0; i < m; i++) {
      const w = wl[i];
      const o = list[i] * h;
      for (let j = 0; j < h; j++) out[o + j] += w * y[i * h + j];
    }
  }
  return new CpuTensor(Float32Array.from(out), x.shape);
}
