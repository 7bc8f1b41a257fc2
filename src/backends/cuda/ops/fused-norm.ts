/**
 * Batch-1 RMSNorm fusion. At decode a layer boundary is h = h + mixer(...), then the next layer's RMSNorm of h,
 * then a GEMV (or the router) over the normalised row. The backend defers the norm (and the add before it) and the
 * consuming kernel stages the normalised row itself (stage_norm_row in kernels/common.cuh): one launch per layer
 * boundary instead of two. Block 0 of the consumer writes the sum h and the normalised row u, so every later reader
 * of either sees the same values as with the separate kernel (add_rms_norm_wide, which a flush launches instead).
 */
import type { RouteDims, Routing } from '../../../ops/ops.js';
import type { CudaCtx, CudaTensor } from '../tensor.js';
import { gemv1Grid, gemv1Lanes, gemv1Pre } from './matmul.js';

/** A deferred u = RMSNorm(a + b) of one row of H floats (b = 0: no add; h = 0: the sum is not kept). */
export interface DeferredNorm {
  a: number;
  b: number;
  h: number;
  w: number; // float32 norm weight [H]
  eps: number;
  H: number;
  out: CudaTensor; // u [1, H]: written by the consumer's block 0 or by the flush
}

/** Whether a row of `x` may be normalised inside its consumer (NEMOTRON_CUDA_FUSE_NORM=0 turns it off). */
export function normDeferrable(x: CudaTensor): boolean {
  return process.env.NEMOTRON_CUDA_FUSE_NORM !== '0' && x.rows === 1 && x.dtype === 'f32' && x.contiguous && x.cols % 4 === 0 && x.cols <= 4096 && x.ptr % 16 === 0;
}

const args = (n: DeferredNorm) => [n.a, n.b || null, n.h || null, n.w, n.eps, n.out.ptr];

/** Launches the norm on its own (a consumer that cannot stage it). */
export function launchNorm(c: CudaCtx, n: DeferredNorm): void {
  c.kernels.launch('add_rms_norm_wide', 1, 1024, [n.a, n.b || null, n.h || null, n.w, n.out.ptr, n.H, n.eps]);
}

/** y = RMSNorm(.) . W^T through gemv1_norm_bf16_l12; null when the shape does not fit that kernel. */
export function gemv1Norm(c: CudaCtx, n: DeferredNorm, w: CudaTensor): CudaTensor | null {
  c.live(w);
  const [M, K] = w.shape;
  if (w.shape.length !== 2 || K !== n.H || w.dtype !== 'bf16' || !w.contiguous || w.ptr % 16 || gemv1Lanes(K) !== 12) return null;
  const y = c.alloc([1, M]);
  c.kernels.launch('gemv1_norm_bf16_l12', gemv1Grid(c, M, 12), 128, [...args(n), w.ptr, y.ptr, K, M, gemv1Pre()], K * 4);
  return y;
}

/** The batch-1 router + top-k over RMSNorm(.) (router_topk_norm_bf16); null when it does not apply. */
export function routeNorm(c: CudaCtx, n: DeferredNorm, gate: CudaTensor, bias: CudaTensor, dims: RouteDims, counter: number): Routing<CudaTensor> | null {
  c.live(gate, bias);
  const { experts: E, topK: K } = dims;
  if (gate.dtype !== 'bf16' || !gate.contiguous || gate.ptr % 16 || n.H % 8 || gate.shape[0] !== E || gate.shape[1] !== n.H || E > 256 || K > 32 || dims.nGroup > 32) return null;
  const logits = c.alloc([1, E]);
  const ids = c.alloc([1, K], 'i32');
  const wts = c.alloc([1, K]);
  c.kernels.launch('router_topk_norm_bf16', Math.ceil(E / 2), 256, [
    ...args(n), gate.ptr, c.f32(bias).ptr, logits.ptr, ids.ptr, wts.ptr, counter, n.H, E, K, dims.nGroup, dims.topkGroup, dims.normTopkProb ? 1 : 0, dims.scale,
  ], n.H * 4);
  return { experts: ids, weights: wts };
}
