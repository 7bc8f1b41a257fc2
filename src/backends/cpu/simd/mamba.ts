/**
 * Mamba-2 ops of the SIMD backend: the selective scan on the wasm `scan` kernel (per segment: inputs and the
 * segment's state copied into scratch, the state copied back); the causal conv and the gated norm as flattened
 * host loops (they are exp-bound: wasm has no exp).
 */
import type { Segment, SsmDims } from '../../../ops/ops.js';
import { softplus } from '../ref/basic.js';
import { mambaConv as mambaConvRef, ssmScan as ssmScanRef } from '../ref/mamba.js';
import { CpuTensor } from '../ref/tensor.js';
import type { WasmHeap } from './heap.js';

export function ssmScanSimd(
  heap: WasmHeap, x: CpuTensor, dtRaw: CpuTensor, B: CpuTensor, C: CpuTensor, aLog: CpuTensor, d: CpuTensor, dtBias: CpuTensor,
  dims: SsmDims, segments: readonly Segment[], states: readonly CpuTensor[],
): CpuTensor {
  const { heads, headDim: p, stateSize: n, groups } = dims;
  if (n % 4 !== 0) return ssmScanRef(x, dtRaw, B, C, aLog, d, dtBias, dims, segments, states);
  const xw = heads * p;
  const gw = groups * n;
  const y = heap.out(x.data.length);
  const maxLen = segments.reduce((m, s) => Math.max(m, s.length), 0);
  // scratch layout (floats): S [heads p n] | D [heads] | coef [T heads 2] | x [T xw] | B [T gw] | C [T gw] | y [T xw]
  const sN = heads * p * n;
  const floats = sN + heads + maxLen * (2 * heads + 2 * xw + 2 * gw);
  const base = heap.scratch(floats * 4);
  const f = heap.f32;
  const sB = base >> 2;
  const dB = sB + sN;
  const coefB = dB + heads;
  const xB = coefB + maxLen * 2 * heads;
  const bB = xB + maxLen * xw;
  const cB = bB + maxLen * gw;
  const yB = cB + maxLen * gw;
  f.set(d.data.subarray(0, heads), dB);
  const A = Array.from(aLog.data, (v) => -Math.exp(v));
  for (let s = 0; s < segments.length; s++) {
    const { start, length: T } = segments[s];
    if (T === 0) continue;
    const S = states[s].data;
    const inPlace = heap.addr(S); // a heap block (zeros of this backend): the kernel updates it where it is
    if (inPlace < 0) f.set(S, sB);
    for (let t = 0; t < T; t++) {
      for (let h = 0; h < heads; h++) {
        let dt = softplus(dtRaw.data[(start + t) * heads + h] + dtBias.data[h]);
        dt = Math.min(Math.max(dt, dims.dtMin), dims.dtMax);
        f[coefB + (t * heads + h) * 2] = dt;
        f[coefB + (t * heads + h) * 2 + 1] = Math.exp(dt * A[h]);
      }
    }
    f.set(x.data.subarray(start * xw, (start + T) * xw), xB);
    f.set(B.data.subarray(start * gw, (start + T) * gw), bB);
    f.set(C.data.subarray(start * gw, (start + T) * gw), cB);
    heap.k.scan(xB * 4, coefB * 4, bB * 4, cB * 4, dB * 4, inPlace < 0 ? sB * 4 : inPlace, yB * 4, T, heads, p, n * 4, gw * 4, heads / groups);
    y.set(f.subarray(yB, yB + T * xw), start * xw);
    if (inPlace < 0) S.set(f.subarray(sB, sB + sN));
  }
  return new CpuTensor(y, x.shape);
}

/**
 * xBC [N, C], w [C, K], state [C, K-1] per segment (raw inputs, oldest first) -> silu(conv) [N, C]. One channel
 * at a time with its window in locals (K = 4, the NemotronH kernel; other K take the reference).
 */
export function mambaConvFast(heap: WasmHeap, xBC: CpuTensor, w: CpuTensor, b: CpuTensor | null, segments: readonly Segment[], states: readonly CpuTensor[]): CpuTensor {
  const c = xBC.cols;
  const k = w.shape[1];
  if (k !== 4) return mambaConvRef(xBC, w, b, segments, states);
  const xd = xBC.data;
  const wd = w.data;
  const bd = b ? b.data : null;
  const out = heap.out(xd.length);
  for (let s = 0; s < segments.length; s++) {
    const { start, length: T } = segments[s];
    const st = states[s].data; // [C, 3]
    for (let ch = 0; ch < c; ch++) {
      const w0 = wd[ch * 4];
      const w1 = wd[ch * 4 + 1];
      const w2 = wd[ch * 4 + 2];
      const w3 = wd[ch * 4 + 3];
      const bias = bd ? bd[ch] : 0;
      let s0 = st[ch * 3];
      let s1 = st[ch * 3 + 1];
      let s2 = st[ch * 3 + 2];
      for (let i = 0, idx = start * c + ch; i < T; i++, idx += c) {
        const x = xd[idx];
        const acc = bias + w0 * s0 + w1 * s1 + w2 * s2 + w3 * x;
        out[idx] = acc / (1 + Math.exp(-acc));
        s0 = s1;
        s1 = s2;
        s2 = x;
      }
      st[ch * 3] = s0;
      st[ch * 3 + 1] = s1;
      st[ch * 3 + 2] = s2;
    }
  }
  return new CpuTensor(out, xBC.shape);
}

/** v = y * silu(z); RMSNorm per group of `groupSize` contiguous channels; times w. As the reference, flattened. */
export function gatedRmsNormFast(heap: WasmHeap, y: CpuTensor, z: CpuTensor, w: CpuTensor, groupSize: number, eps: number): CpuTensor {
  const width = y.cols;
  const yd = y.data;
  const zd = z.data;
  const wd = w.data;
  const out = heap.out(yd.length);
  const v = new Float64Array(groupSize);
  for (let r = 0; r < y.rows; r++) {
    for (let g0 = 0; g0 < width; g0 += groupSize) {
      const o = r * width + g0;
      let ss = 0;
      for (let j = 0; j < groupSize; j++) {
        const zv = zd[o + j];
        const vj = (yd[o + j] * zv) / (1 + Math.exp(-zv));
        v[j] = vj;
        ss += vj * vj;
      }
      const inv = 1 / Math.sqrt(ss / groupSize + eps);
      for (let j = 0; j < groupSize; j++) out[o + j] = wd[g0 + j] * v[j] * inv;
    }
  }
  return new CpuTensor(out, y.shape);
}
