/**
 * MoE experts on the SIMD matmul: tokens grouped by expert (counting sort), then per selected expert its tokens
 * are packed into scratch, up-projected, relu2'd and re-packed in scratch for the down projection, and the
 * weighted rows are added into a float64 output (as the reference) straight from scratch.
 */
import type { Routing } from '../../../ops/ops.js';
import { CpuTensor } from '../ref/tensor.js';
import type { WasmHeap } from './heap.js';
import { packRow, runKernel, up4, weightRef } from './matmul.js';

export function moeExpertsSimd(heap: WasmHeap, x: CpuTensor, routing: Routing<CpuTensor>, up: readonly CpuTensor[], down: readonly CpuTensor[]): CpuTensor {
  const h = x.cols;
  const n = x.rows;
  const topK = routing.experts.cols;
  const E = up.length;
  const ids = routing.experts.data;
  const rw = routing.weights.data;
  // counting sort of the (token, k) pairs by expert
  const count = new Int32Array(E + 1);
  for (let i = 0; i < n * topK; i++) count[ids[i] + 1]++;
  for (let e = 0; e < E; e++) count[e + 1] += count[e];
  const pos = count.slice(0, E);
  const order = new Int32Array(n * topK); // pair index r * topK + k, grouped by expert
  for (let i = 0; i < n * topK; i++) order[pos[ids[i]]++] = i;
  const out = heap.temp64(n * h);
  const hp = up4(h);
  for (let e = 0; e < E; e++) {
    const m = count[e + 1] - count[e];
    if (m === 0) continue;
    const inter = up[e].shape[0];
    const ip = up4(inter);
    const U = weightRef(heap, up[e].data, inter, h);
    const D = weightRef(heap, down[e].data, h, inter);
    // scratch (floats): x [m hp] | a [m ip] | a packed [m ip] | y [m hp]
    const xb = heap.scratch(m * (2 * hp + 2 * ip) * 4) >> 2;
    const ab = xb + m * hp;
    const apb = ab + m * ip;
    const yb = apb + m * ip;
    let f = heap.f32;
    for (let i = 0; i < m; i++) packRow(f, xb + i * hp, x.data, Math.floor(order[count[e] + i] / topK) * h, h, U.bf16);
    runKernel(heap, xb * 4, m, h, U, ab * 4, inter);
    f = heap.f32;
    for (let i = ab, end = ab + m * ip; i < end; i++) {
      const v = f[i] > 0 ? f[i] : 0;
      f[i] = v * v;
    }
    for (let i = 0; i < m; i++) packRow(f, apb + i * ip, f, ab + i * ip, inter, D.bf16);
    runKernel(heap, apb * 4, m, inter, D, yb * 4, h);
    for (let i = 0; i < m; i++) {
      const pair = order[count[e] + i];
      const w = rw[pair];
      const o = Math.floor(pair / topK) * h;
      const yr = yb + i * hp;
      for (let j = 0; j < h; j++) out[o + j] += w * f[yr + j];
    }
  }
  const res = heap.out(n * h);
  for (let i = 0; i < res.length; i++) res[i] = out[i];
  return new CpuTensor(res, x.shape);
}
