/**
 * Mamba-2 ops of the SIMD backend: the selective scan on the wasm `scan` kernel (per segment: inputs and the
 * segment's state copied into scratch, the state copied back), and a causal conv with the loops flattened.
 */
import type { Segment, SsmDims } from '../../../ops/ops.js';
import { silu, softplus } from '../ref/basic.js';
import { ssmScan as ssmScanRef } from '../ref/mamba.js';
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
  const y = new Float32Array(x.data.length);
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
    f.set(S, sB);
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
    heap.k.scan(xB * 4, coefB * 4, bB * 4, cB * 4, dB * 4, sB * 4, yB * 4, T, heads, p, n * 4, gw * 4, heads / groups);
    y.set(f.subarray(yB, yB + T * xw), start * xw);
    S.set(f.subarray(sB, sB + sN));
  }
  return new CpuTensor(y, x.shape);
}

/** xBC [N, C], w [C, K], state [C, K-1] per segment (raw inputs, oldest first) -> silu(conv) [N, C]. */
export function mambaConvFast(xBC: CpuTensor, w: CpuTensor, b: CpuTensor | null, segments: readonly Segment[], states: readonly CpuTensor[]): CpuTensor {
  const c = xBC.cols;
  const k = w.shape[1];
  const km = k - 1;
  const xd = xBC.data;
  const wd = w.data;
  const out = new Float32Array(xd.length);
  const win = new Float64Array(k);
  for (let s = 0; s < segments.length; s++) {
    const { start, length: T } = segments[s];
    const st = states[s].data; // [C, K-1]
    for (let ch = 0; ch < c; ch++) {
      // sliding window of the last k raw inputs of this channel: state first, then the tokens
      for (let j = 0; j < km; j++) win[j + 1] = st[ch * km + j];
      const bias = b ? b.data[ch] : 0;
      for (let i = 0; i < T; i++) {
        for (let j = 0; j < km; j++) win[j] = win[j + 1];
        win[km] = xd[(start + i) * c + ch];
        let acc = bias;
        for (let j = 0; j < k; j++) acc += wd[ch * k + j] * win[j];
        out[(start + i) * c + ch] = silu(acc);
      }
      for (let j = 0; j < km; j++) st[ch * km + j] = win[j + 1];
    }
  }
  return new CpuTensor(out, xBC.shape);
}
