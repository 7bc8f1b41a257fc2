/** Reference Mamba-2 kernels: causal depthwise conv + SiLU, exact selective scan, gated grouped RMSNorm. */
import type { Segment, SsmDims } from '../../../ops/ops.js';
import { silu, softplus } from './basic.js';
import { CpuTensor, t } from './tensor.js';

/** xBC [N, C], w [C, K], state [C, K-1] per segment (raw inputs, oldest first) -> silu(conv) [N, C]. */
export function mambaConv(xBC: CpuTensor, w: CpuTensor, b: CpuTensor | null, segments: readonly Segment[], states: readonly CpuTensor[]): CpuTensor {
  const c = xBC.cols;
  const k = w.shape[1];
  const out = new Float32Array(xBC.data.length);
  segments.forEach((seg, s) => {
    const st = states[s].data; // [C, K-1]
    // window of raw inputs for this segment: K-1 cached columns then the segment's tokens
    const input = (ch: number, tau: number): number => (tau < 0 ? st[ch * (k - 1) + (k - 1 + tau)] : xBC.data[(seg.start + tau) * c + ch]);
    for (let i = 0; i < seg.length; i++) {
      for (let ch = 0; ch < c; ch++) {
        let acc = b ? b.data[ch] : 0;
        for (let j = 0; j < k; j++) acc += w.data[ch * k + j] * input(ch, i - (k - 1) + j);
        out[(seg.start + i) * c + ch] = silu(acc);
      }
    }
    // new state: the last K-1 raw inputs (taken from the old state when the segment is short)
    const next = new Float32Array(c * (k - 1));
    for (let ch = 0; ch < c; ch++) {
      for (let j = 0; j < k - 1; j++) next[ch * (k - 1) + j] = input(ch, seg.length - (k - 1) + j);
    }
    st.set(next);
  });
  return t(out, xBC.shape);
}

/** Exact recurrence of model-spec 3.5 with the dt of 3.4; updates each segment's state [heads, p, n]. */
export function ssmScan(
  x: CpuTensor, dtRaw: CpuTensor, B: CpuTensor, C: CpuTensor, aLog: CpuTensor, d: CpuTensor, dtBias: CpuTensor,
  dims: SsmDims, segments: readonly Segment[], states: readonly CpuTensor[],
): CpuTensor {
  const { heads, headDim: p, stateSize: n, groups } = dims;
  const perGroup = heads / groups;
  const y = new Float32Array(x.data.length);
  const A = Array.from(aLog.data, (v) => -Math.exp(v));
  segments.forEach((seg, s) => {
    const S = states[s].data;
    for (let i = 0; i < seg.length; i++) {
      const tok = seg.start + i;
      for (let h = 0; h < heads; h++) {
        const g = Math.floor(h / perGroup); // repeat_interleave semantics (pitfall P7)
        let dt = softplus(dtRaw.data[tok * heads + h] + dtBias.data[h]);
        dt = Math.min(Math.max(dt, dims.dtMin), dims.dtMax);
        const a = Math.exp(dt * A[h]);
        const bOff = tok * groups * n + g * n;
        for (let pi = 0; pi < p; pi++) {
          const xv = x.data[tok * heads * p + h * p + pi];
          const sOff = (h * p + pi) * n;
          let acc = 0;
          for (let ni = 0; ni < n; ni++) {
            const sv = a * S[sOff + ni] + dt * xv * B.data[bOff + ni];
            S[sOff + ni] = sv;
            acc += sv * C.data[bOff + ni];
          }
          y[tok * heads * p + h * p + pi] = acc + d.data[h] * xv;
        }
      }
    }
  });
  return t(y, x.shape);
}

/** v = y * silu(z); RMSNorm per group of `groupSize` contiguous channels; times w (gate before norm, P6). */
export function gatedRmsNorm(y: CpuTensor, z: CpuTensor, w: CpuTensor, groupSize: number, eps: number): CpuTensor {
  const width = y.cols;
  const out = new Float32Array(y.data.length);
  const v = new Float64Array(groupSize);
  for (let r = 0; r < y.rows; r++) {
    for (let g0 = 0; g0 < width; g0 += groupSize) {
      let ss = 0;
      for (let j = 0; j < groupSize; j++) {
        const idx = r * width + g0 + j;
        v[j] = y.data[idx] * silu(z.data[idx]);
        ss += v[j] * v[j];
      }
      const inv = 1 / Math.sqrt(ss / groupSize + eps);
      for (let j = 0; j < groupSize; j++) out[r * width + g0 + j] = w.data[g0 + j] * v[j] * inv;
    }
  }
  return t(out, y.shape);
}
