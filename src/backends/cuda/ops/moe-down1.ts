/**
 * The tail of the batch-1 MoE block in one launch (kernels/moe_down1.cu): the shared expert's and the routed
 * experts' down projections, the routing-weighted sum and the residual add, out = resid + (routed + shared). It
 * replaces moe_down1 + moe_combine1 + add_f32 (three launches and a [S + K, H] partials round trip) after moe_up1.
 */
import type { CudaCtx, CudaTensor } from '../tensor.js';

/** Resident 128-thread blocks per SM of moe_down1_res_l8 / _l12 (their __launch_bounds__: 80 / 96 registers). */
const BLOCKS_PER_SM: Record<8 | 12, number> = { 8: 6, 12: 5 };

/** Loads per lane (MAXL) of the moe_down1_res kernel that takes expert rows of I bf16, or 0 when none does. */
export function moeDown1Lanes(I: number): 0 | 8 | 12 {
  if (I <= 0 || I % 8) return 0;
  return I <= 2048 ? 8 : I <= 3072 ? 12 : 0;
}

/**
 * The grid: a warp per output while they all fit at once (every warp then carries exactly one output's rows, no
 * second wave), else as many blocks as are resident and the warps walk several outputs.
 */
export function moeDown1Grid(c: CudaCtx, H: number, lanes: 8 | 12): number {
  const perSm = Math.min(BLOCKS_PER_SM[lanes], c.kernels.resident(`moe_down1_res_l${lanes}`, 128, 0));
  return Math.max(1, Math.min(Math.ceil(H / 4), c.dev.info.multiprocessors * perSm));
}

/**
 * The kernel for rows of `lanes` loads per lane and `rows` rows per output (S + K): for 8-load rows by default
 * moe_down1_res_l8_rots (the shared chunks in a rotated order per output, so the warps read whole rows between them:
 * 2.258 against 2.265 ms per batch-1 step on an H200), else no L2 prefetch ahead; NEMOTRON_CUDA_MOE_DOWN1_PF (tuning)
 * picks the canonical order with 0, 1 or 2 rows pulled into L2 ahead (the one-row prefetch cost 0.1 ms per step,
 * 2.85 vs 2.75 ms, bench/cuda-decode-sweep.ts, as L2 prefetching did in the gemv1 kernels).
 */
export function moeDown1Kernel(lanes: 8 | 12, rows = 8): string {
  const pf = process.env.NEMOTRON_CUDA_MOE_DOWN1_PF;
  if (lanes === 8 && pf === undefined) return rows <= 32 ? 'moe_down1_res_l8_rots' : 'moe_down1_res_l8_pf0';
  return lanes === 8 && (pf === '0' || pf === '2') ? `moe_down1_res_l8_pf${pf}` : `moe_down1_res_l${lanes}`;
}

export interface MoeDown1Args {
  /** f32 [Is + K I]: the shared expert's relu^2 activations, then each routed slot's (moe_up1's output). */
  act: number;
  /** i32 [K]: the routed experts. */
  ids: number;
  /** f32 [K]: their routing weights. */
  wts: number;
  /** u64 [E]: each expert's down projection [H, I] bf16 (pointerTable). */
  downTable: number;
  /** bf16 [H, Is]: the shared expert's down projection; Is must be a multiple of I. */
  downS: CudaTensor;
  /** f32 [H] added to the result, or null. May equal out. */
  resid: number | null;
  /** f32 [H]. */
  out: number;
  K: number;
  /** The routed experts' width. */
  I: number;
  /** A kernel name to launch instead of the default pick (the kernel lab's prefetch variants). */
  kernel?: string;
  /** An int the kernel zeroes after its wait (moe_router_up1's counter), or absent. */
  clear?: number;
}

/**
 * out[o] = resid[o] + (sum_k wts[k] down_{ids[k]}[o] . act_k + sum_c downS[o, chunk c] . act_c) for one token, in
 * one persistent launch. Returns false (launching nothing) when the shapes or alignments do not fit the kernel.
 */
export function moeDown1Res(c: CudaCtx, a: MoeDown1Args): boolean {
  const { downS, K, I } = a;
  const [H, Is] = downS.shape;
  const lanes = moeDown1Lanes(I);
  const S = Is / I;
  if (!lanes || downS.shape.length !== 2 || downS.dtype !== 'bf16' || !downS.contiguous || !Number.isInteger(S)) return false;
  if (K < 0 || K > 32 || a.act % 16 || downS.ptr % 16) return false;
  if (H === 0) return true;
  if (!a.kernel && lanes === 8 && process.env.NEMOTRON_CUDA_MOE_DOWN1_HY === '1') {
    // tuning, slower on an H200 (2.432 vs 2.340 ms per batch-1 step): two rows in flight per warp, the odd ones through a shared-memory slot
    c.kernels.launch('moe_down1_res_l8_hy', moeDown1Grid(c, H, 8), 128, [a.act, a.ids, a.wts, a.downTable, downS.ptr, a.resid, a.out, K, S, H, I, Is, a.clear ?? null], 4 * 8 * 512);
    return true;
  }
  c.kernels.launch(a.kernel ?? moeDown1Kernel(lanes, S + K), moeDown1Grid(c, H, lanes), 128, [a.act, a.ids, a.wts, a.downTable, downS.ptr, a.resid, a.out, K, S, H, I, Is, a.clear ?? null]);
  return true;
}
