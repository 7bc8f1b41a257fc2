/** Mamba-2 ops: causal conv + SiLU with conv-state update, exact selective scan (kernels/conv.cu, ssm.cu). */
import type { Segment, SsmDims } from '../../../ops/ops.js';
import type { CudaCtx, CudaTensor } from '../tensor.js';

/** Checks that the segments tile [0, n) in order; returns the token -> segment map. */
export function segmentMap(segments: readonly Segment[], n: number): Int32Array {
  const map = new Int32Array(n).fill(-1);
  segments.forEach((s, i) => {
    if (s.start < 0 || s.length < 1 || s.start + s.length > n) throw new RangeError(`segment ${i} [${s.start}, +${s.length}) is outside the ${n} packed tokens`);
    map.fill(i, s.start, s.start + s.length);
  });
  if (map.includes(-1)) throw new RangeError('segments must cover every packed token');
  return map;
}

const isDecode = (segments: readonly Segment[]) => segments.every((s, i) => s.length === 1 && s.start === i);

export function mambaConv(c: CudaCtx, xBC: CudaTensor, w: CudaTensor, b: CudaTensor | null, segments: readonly Segment[], states: readonly CudaTensor[]): CudaTensor {
  c.live(xBC, w, b, ...states);
  const C = xBC.cols;
  const N = xBC.rows;
  const K = w.shape[1];
  if (w.shape[0] !== C) throw new Error(`mambaConv: weight [${w.shape}] for ${C} channels`);
  if (K < 2 || K > 8) throw new Error(`mambaConv: conv kernel ${K} not supported (2..8)`);
  const wf = c.f32(w);
  const bf = b ? c.f32(b) : null;
  const out = c.alloc([N, C]);
  const st = c.dev.meta.u64(states.map((s) => s.ptr));
  const gx = Math.ceil(C / 256);
  if (isDecode(segments) && segments.length === N) {
    // 128-thread blocks: a batch-1 step is latency-bound, so spread its 6144 channels over 48 SMs rather than 24
    c.kernels.launch('conv_step', [Math.ceil(C / 128), N], 128, [xBC.ptr, xBC.ld, wf.ptr, bf?.ptr ?? null, out.ptr, C, K, st]);
    return out;
  }
  const tokSeg = c.dev.meta.i32(segmentMap(segments, N));
  const segStart = c.dev.meta.i32(segments.map((s) => s.start));
  const segLen = c.dev.meta.i32(segments.map((s) => s.length));
  c.kernels.launch('conv_silu', [gx, N], 256, [xBC.ptr, xBC.ld, wf.ptr, bf?.ptr ?? null, out.ptr, C, K, tokSeg, segStart, st]);
  c.kernels.launch('conv_state_update', [gx, segments.length], 256, [xBC.ptr, xBC.ld, C, K, segStart, segLen, st]);
  return out;
}

/** 16-byte loads of rows of `t` are possible: aligned base and a row stride of a multiple of 4 floats. */
const rows16 = (t: CudaTensor) => t.ptr % 16 === 0 && t.ld % 4 === 0;

export function ssmScan(
  c: CudaCtx, x: CudaTensor, dt: CudaTensor, B: CudaTensor, C: CudaTensor, aLog: CudaTensor, d: CudaTensor, dtBias: CudaTensor,
  dims: SsmDims, segments: readonly Segment[], states: readonly CudaTensor[],
): CudaTensor {
  c.live(x, dt, B, C, aLog, d, dtBias, ...states);
  const { heads, headDim: P, stateSize: Nst, groups } = dims;
  if (Nst > 128) throw new Error(`ssmScan: state size ${Nst} > 128 not supported`);
  if (heads % groups !== 0) throw new Error(`ssmScan: ${groups} groups do not divide ${heads} heads`);
  if (x.cols !== heads * P || B.cols !== groups * Nst || C.cols !== groups * Nst || dt.cols !== heads) {
    throw new Error(`ssmScan: shapes x [${x.shape}] dt [${dt.shape}] B [${B.shape}] C [${C.shape}] do not match the dims`);
  }
  if (states.length !== segments.length) throw new Error(`ssmScan: ${states.length} states for ${segments.length} segments`);
  const N = x.rows;
  segmentMap(segments, N);
  const y = c.alloc([N, heads * P]); // [N, heads * P]
  const segStart = c.dev.meta.i32(segments.map((s) => s.start));
  const st = c.dev.meta.u64(states.map((s) => s.ptr));
  const common = [x.ptr, x.ld, dt.ptr, dt.ld, B.ptr, B.ld, C.ptr, C.ld, c.f32(aLog).ptr, c.f32(d).ptr, c.f32(dtBias).ptr, y.ptr];
  const S = segments.length;
  // state size 128 (the Nano): the fast kernels (16-byte loads of B and C rows; prefill also of x rows)
  const n128 = Nst === 128 && rows16(B) && rows16(C);
  if (n128 && segments.every((s) => s.length === 1)) {
    c.kernels.launch('ssm_step_n128', [Math.ceil(P / 8), heads, S], 256, [...common, heads, P, groups, dims.dtMin, dims.dtMax, segStart, st]);
    return y;
  }
  const segLen = c.dev.meta.i32(segments.map((s) => s.length));
  if (n128 && P % 32 === 0 && rows16(x)) {
    c.kernels.launch('ssm_scan_n128', [P / 32, heads, S], 256, [...common, heads, P, groups, dims.dtMin, dims.dtMax, segStart, segLen, st]);
    return y;
  }
  c.kernels.launch('ssm_scan', [Math.ceil(P / 16), heads, S], 128, [...common, heads, P, Nst, groups, dims.dtMin, dims.dtMax, segStart, segLen, st]);
  return y;
}
