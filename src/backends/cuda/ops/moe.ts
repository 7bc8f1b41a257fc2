/**
 * MoE router and routed experts (model-spec 5) over only the selected experts.
 * - Router: the fp32 router GEMM (float32-accurate on every path), then one warp per token for sigmoid, biased
 *   top-k, renormalisation and scaling (kernels/moe.cu).
 * - Experts, 1-2 tokens (decode): per (token, slot) GEMV kernels that read each selected
 *   expert's rows (at batch 1-2 fused with the shared expert: moeBlockFused). 3 or more tokens (prefill, decode
 *   batches): grouped tensor-core GEMMs on the device (ops/moe-gemm.ts), graph-capturable. The older host path
 *   (routing read back, two cuBLAS GEMMs per active expert) stays as the fallback and for comparison
 *   (NEMOTRON_CUDA_MOE_GEMM=host).
 */
import type { RouteDims, Routing } from '../../../ops/ops.js';
import type { CudaCtx, CudaTensor } from '../tensor.js';
import { gemv1Grid, gemv1Lanes, gemv1Pre, matmul } from './matmul.js';
import { moeGroupedApplies, moeGroupedExperts } from './moe-gemm.js';
import { ticketBuffer } from './tickets.js';

/**
 * Token counts from which the routed experts run as grouped tensor-core GEMMs on the device. Its 16-row tiles
 * stream each active expert once (H200: 0.36 ms per layer at 16 tokens, 4 TB/s), where the per-(token, slot)
 * GEMVs re-read an expert for every pair; batch 1-2 keep the fused GEMV block (moeBlockFused).
 */
export const MOE_GROUPED_MIN_TOKENS = 3;

/** Token counts from which the eager path switches to grouped cuBLAS GEMMs (host fallback). */
export const MOE_GEMM_MIN_TOKENS = 32;

/** Token counts up to which the router and its top-k run as one kernel (decode). */
export const MOE_FUSED_MAX_TOKENS = 16;
/**
 * Token counts up to which the MoE block runs as two kernels: moe_down_fused reads the shared expert's down rows
 * once per token, which cost more than it saved at batch 8 (512 vs 589 tok/s on an H200).
 */
export const MOE_BLOCK_FUSED_MAX_TOKENS = 2;

/** The router's last-block ticket: one int, zero between launches (the kernel resets it). */
export const routerCounter = (c: CudaCtx): number => ticketBuffer(c, 'moeRoute', 1);

export function moeRoute(c: CudaCtx, x: CudaTensor, gate: CudaTensor, bias: CudaTensor, dims: RouteDims): Routing<CudaTensor> {
  c.live(x, gate, bias);
  const { experts: E, topK: K } = dims;
  if (E > 256 || K > 32 || dims.nGroup > 32) throw new Error(`moeRoute: ${E} experts / top-${K} / ${dims.nGroup} groups not supported`);
  if (gate.shape[0] !== E) throw new Error(`moeRoute: gate [${gate.shape}] for ${E} experts`);
  if (gate.shape[1] !== x.cols) throw new Error(`moeRoute: gate [${gate.shape}] for x [${x.shape}]`);
  const N = x.rows;
  if (N >= 1 && N <= MOE_FUSED_MAX_TOKENS && gate.contiguous && (gate.dtype === 'bf16' || gate.dtype === 'f32')) {
    const logits = c.alloc([N, E]);
    const ids = c.alloc([N, K], 'i32');
    const wts = c.alloc([N, K]);
    const xc = c.contig(x);
    c.kernels.launch(`router_topk_${gate.dtype}`, Math.ceil(E / 2), 256, [
      xc.ptr, xc.ld, gate.ptr, c.f32(bias).ptr, logits.ptr, ids.ptr, wts.ptr, routerCounter(c), N, x.cols, E, K, dims.nGroup, dims.topkGroup, dims.normTopkProb ? 1 : 0, dims.scale,
    ]);
    return { experts: ids, weights: wts };
  }
  const logits = matmul(c, x, gate, { precise: true }); // [N, E]; the router runs in fp32 (model-spec 5)
  const ids = c.alloc([N, K], 'i32');
  const wts = c.alloc([N, K]);
  c.kernels.launch('moe_topk', Math.ceil(N / 4), 128, [logits.ptr, c.f32(bias).ptr, ids.ptr, wts.ptr, N, E, K, dims.nGroup, dims.topkGroup, dims.normTopkProb ? 1 : 0, dims.scale]);
  return { experts: ids, weights: wts };
}

/** Device tables of expert weight pointers, kept per weight list (the model passes the same tensors each step). */
const tables = new WeakMap<CudaTensor, { ptrs: number[]; dev: number }>();

/** A device array of the weights' pointers (u64), built once per weight list in an eager step. */
export function pointerTable(c: CudaCtx, ws: readonly CudaTensor[]): number {
  const ptrs = ws.map((w) => w.ptr);
  const hit = tables.get(ws[0]);
  if (hit && hit.ptrs.length === ptrs.length && hit.ptrs.every((p, i) => p === ptrs[i])) return hit.dev;
  // a persistent table, written once in an eager step (graph steps always follow an eager one)
  if (c.dev.mode !== 'eager') throw new Error('moeExperts: expert weights changed inside a captured step');
  const a = c.dev.pool.alloc(ptrs.length * 8);
  c.dev.upload(a.ptr, new BigUint64Array(ptrs.map((p) => BigInt(p))));
  tables.set(ws[0], { ptrs, dev: a.ptr });
  return a.ptr;
}

export function moeExperts(c: CudaCtx, x: CudaTensor, routing: Routing<CudaTensor>, up: readonly CudaTensor[], down: readonly CudaTensor[]): CudaTensor {
  c.live(x, routing.experts, routing.weights);
  const H = x.cols;
  const N = x.rows;
  const K = routing.experts.cols;
  const I = up[0].shape[0];
  const dtype = up[0].dtype;
  for (let e = 0; e < up.length; e++) {
    if (up[e].dtype !== dtype || down[e].dtype !== dtype) throw new Error('moeExperts: every expert weight must have the same dtype');
    if (up[e].shape[0] !== I || up[e].shape[1] !== H || down[e].shape[0] !== H || down[e].shape[1] !== I) {
      throw new Error(`moeExperts: expert ${e} up [${up[e].shape}] / down [${down[e].shape}] do not fit x [${x.shape}]`);
    }
  }
  const out = c.alloc([N, H]);
  if (N === 0) return out;
  const xc = c.contig(x);
  const wts = c.contig(routing.weights);
  const upT = pointerTable(c, up);
  const downT = pointerTable(c, down);
  c.withScratch((scratch) => {
    let ids = routing.experts.ptr;
    if (routing.experts.dtype !== 'i32') {
      ids = scratch(N * K * 4);
      c.kernels.launch('f32_to_i32', c.blocks(N * K), 256, [c.contig(routing.experts).ptr, ids, N * K]);
    }
    // more tokens than the GEMV paths take well: grouped tensor-core GEMMs on the device (graph-capturable)
    if (N >= MOE_GROUPED_MIN_TOKENS && process.env.NEMOTRON_CUDA_MOE_GEMM !== 'host' && moeGroupedApplies(dtype, up.length, H, I)) {
      if (moeGroupedExperts(c, { x: xc, ids, wts: wts.ptr, upTable: upT, downTable: downT, out: out.ptr, K, E: up.length, I, precise: c.precise }, scratch)) return;
    }
    if (c.dev.mode === 'eager' && dtype === 'bf16' && N >= MOE_GEMM_MIN_TOKENS) {
      groupedGemm(c, xc, ids, wts.ptr, up, down, out.ptr, N, K, H, I, scratch);
      return;
    }
    const NK = N * K;
    const t = dtype === 'bf16' ? 'bf16' : 'f32';
    const act = scratch(NK * I * 4);
    let order: number | null = null;
    if (N >= 4 && up.length <= 1024) {
      order = scratch(NK * 4);
      c.kernels.launch('moe_sort', 1, Math.max(32, Math.ceil(up.length / 32) * 32), [ids, NK, up.length, order]);
    }
    c.kernels.launch(`moe_up_${t}`, [Math.ceil(I / 8), NK], 256, [xc.ptr, xc.ld, ids, order, upT, act, K, H, I]);
    // one block row per (token, slot) pair, then a deterministic weighted sum per token: at batch 1 this runs 6x
    // more warps in parallel than looping over the slots inside one kernel (an earlier version, latency-bound)
    const rows = scratch(NK * H * 4);
    c.kernels.launch(`moe_down_pairs_${t}`, [Math.ceil(H / 8), NK], 256, [act, ids, order, downT, rows, H, I]);
    c.kernels.launch('moe_combine', [Math.ceil(H / 256), N], 256, [rows, null, wts.ptr, out.ptr, K, H]);
  });
  return out;
}

/**
 * The whole MoE block of few tokens: routed experts plus the shared expert (down_s(relu2(up_s(x))), unscaled), in
 * two kernels (moe_up_fused, moe_down_fused). Returns null when the fused path does not apply (the caller then
 * composes moeExperts, matmul and relu2).
 */
export function moeBlockFused(
  c: CudaCtx, x: CudaTensor, routing: Routing<CudaTensor>, up: readonly CudaTensor[], down: readonly CudaTensor[], upS: CudaTensor, downS: CudaTensor,
): CudaTensor | null {
  c.live(x, routing.experts, routing.weights, upS, downS);
  const N = x.rows;
  const H = x.cols;
  const K = routing.experts.cols;
  const I = up[0].shape[0];
  const Is = upS.shape[0];
  const S = K < 8 ? 8 - K : 1;
  if (N < 1 || N > MOE_BLOCK_FUSED_MAX_TOKENS || K + S > 32 || routing.experts.dtype !== 'i32' || !routing.experts.contiguous) return null;
  if (upS.dtype !== 'bf16' || downS.dtype !== 'bf16' || upS.shape[1] !== H || downS.shape[0] !== H || downS.shape[1] !== Is) return null;
  if (H % 8 || I % 8 || Is % 8) return null;
  for (let e = 0; e < up.length; e++) {
    if (up[e].dtype !== 'bf16' || down[e].dtype !== 'bf16') return null;
    if (up[e].shape[0] !== I || up[e].shape[1] !== H || down[e].shape[0] !== H || down[e].shape[1] !== I) {
      throw new Error(`moeExperts: expert ${e} up [${up[e].shape}] / down [${down[e].shape}] do not fit x [${x.shape}]`);
    }
  }
  const out = c.alloc([N, H]);
  const xc = c.contig(x);
  const wts = c.contig(routing.weights);
  const upT = pointerTable(c, up);
  const downT = pointerTable(c, down);
  c.withScratch((scratch) => {
    const NK = N * K;
    const lanes = gemv1Lanes(H);
    if (N === 1 && lanes && xc.ptr % 16 === 0) {
      // one token: every up row (shared first, then the routed experts') as one persistent GEMV
      const all = scratch((Is + K * I) * 4); // [Is | K * I]
      c.kernels.launch(`moe_up1_l${lanes}`, gemv1Grid(c, Is + K * I, lanes), 128, [xc.ptr, routing.experts.ptr, upT, upS.ptr, all, K, H, I, Is, gemv1Pre(), up.length], H * 4);
      const S = Is / I;
      if (Number.isInteger(S) && I <= 3072) {
        // every down row of the token (shared expert in S chunks of I columns, then the routed experts') as one
        // persistent GEMV, then a fixed-order weighted sum: moe_down_fused's block per output ran at 1.8 TB/s
        const part = scratch((S + K) * H * 4); // [S + K, H]
        const dl = I <= 2048 ? 8 : 12;
        const grid = Math.max(1, Math.min(Math.ceil(((S + K) * H) / 4), c.dev.info.multiprocessors * (dl === 8 ? 8 : 6)));
        c.kernels.launch(`moe_down1_l${dl}`, grid, 128, [all, routing.experts.ptr, downT, downS.ptr, part, K, S, H, I, Is, gemv1Pre()]);
        c.kernels.launch('moe_combine1', Math.ceil(H / 256), 256, [part, wts.ptr, out.ptr, K, S, H]);
        return;
      }
      c.kernels.launch('moe_down_fused', [H, N], 256, [all + Is * 4, routing.experts.ptr, wts.ptr, downT, downS.ptr, all, out.ptr, K, H, I, Is]);
      return;
    }
    const act = scratch(NK * I * 4);
    const actS = scratch(N * Is * 4);
    let order: number | null = null;
    if (N >= 4 && up.length <= 1024) {
      order = scratch(NK * 4);
      c.kernels.launch('moe_sort', 1, Math.max(32, Math.ceil(up.length / 32) * 32), [routing.experts.ptr, NK, up.length, order]);
    }
    c.kernels.launch('moe_up_fused', [Math.ceil(Math.max(I, Is) / 8), NK + 1], 256, [xc.ptr, xc.ld, routing.experts.ptr, order, upT, act, upS.ptr, actS, N, K, H, I, Is]);
    c.kernels.launch('moe_down_fused', [H, N], 256, [act, routing.experts.ptr, wts.ptr, downT, downS.ptr, actS, out.ptr, K, H, I, Is]);
  });
  return out;
}

/** Eager prefill path: host-side sort of (token, slot) pairs by expert, then two cuBLAS GEMMs per active expert. */
function groupedGemm(
  c: CudaCtx, x: CudaTensor, idsPtr: number, wtsPtr: number, up: readonly CudaTensor[], down: readonly CudaTensor[], out: number,
  N: number, K: number, H: number, I: number, scratch: (bytes: number) => number,
): void {
  const NK = N * K;
  const E = up.length;
  const ids = new Int32Array(NK);
  c.dev.download(ids, idsPtr);
  const count = new Int32Array(E);
  for (let p = 0; p < NK; p++) {
    const e = ids[p];
    if (e < 0 || e >= E) throw new RangeError(`moeExperts: expert id ${e} outside [0, ${E})`);
    count[e]++;
  }
  const start = new Int32Array(E + 1);
  for (let e = 0; e < E; e++) start[e + 1] = start[e] + count[e];
  const perm = new Int32Array(NK); // sorted position -> pair
  const inv = new Int32Array(NK); // pair -> sorted position
  const fill = start.slice(0, E);
  for (let p = 0; p < NK; p++) {
    const at = fill[ids[p]]++;
    perm[at] = p;
    inv[p] = at;
  }
  const permP = c.dev.meta.i32(perm);
  const invP = c.dev.meta.i32(inv);
  const precise = c.precise;
  const xh = scratch(NK * H * 2);
  const xl = precise ? scratch(NK * H * 2) : 0;
  c.kernels.launch('moe_gather_bf16', [Math.ceil(H / 256), NK], 256, [x.ptr, x.ld, permP, K, xh, xl || null, H]);
  const h = scratch(NK * I * 4);
  for (let e = 0; e < E; e++) {
    if (!count[e]) continue;
    c.blas.gemmBf16(xh + start[e] * H * 2, H, up[e].ptr, h + start[e] * I * 4, I, count[e], H, I);
    if (precise) c.blas.gemmBf16(xl + start[e] * H * 2, H, up[e].ptr, h + start[e] * I * 4, I, count[e], H, I, true);
  }
  const hh = scratch(NK * I * 2);
  const hl = precise ? scratch(NK * I * 2) : 0;
  c.kernels.launch('relu2_to_bf16', c.blocks(NK * I), 256, [h, hh, hl || null, NK * I]);
  const o = scratch(NK * H * 4);
  for (let e = 0; e < E; e++) {
    if (!count[e]) continue;
    c.blas.gemmBf16(hh + start[e] * I * 2, I, down[e].ptr, o + start[e] * H * 4, H, count[e], I, H);
    if (precise) c.blas.gemmBf16(hl + start[e] * I * 2, I, down[e].ptr, o + start[e] * H * 4, H, count[e], I, H, true);
  }
  c.kernels.launch('moe_combine', [Math.ceil(H / 256), N], 256, [o, invP, wtsPtr, out, K, H]);
}
