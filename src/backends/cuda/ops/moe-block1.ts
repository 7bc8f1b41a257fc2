/**
 * A whole MoE layer of one token (decode, batch 1) in three launches: the router + top-k over the staged RMSNorm of
 * the layer input (router_topk_norm), moe_up1 (the shared expert's and the routed experts' up rows) and
 * moe_down1_res (every down row, the weighted sum and the residual add). The last one is returned deferred, so that
 * the residual add that follows the layer runs inside it (see CudaBackend.add). NEMOTRON_CUDA_MOE_LAYER=fused
 * runs the router inside the up kernel instead (moe_router_up1: two launches per layer).
 */
import type { RouteDims } from '../../../ops/ops.js';
import type { CudaCtx, CudaTensor } from '../tensor.js';
import type { DeferredNorm } from './fused-norm.js';
import { gemv1Grid, gemv1Pre, persistentGrid } from './matmul.js';
import { pointerTable } from './moe.js';
import { moeDown1Lanes, moeDown1Res, type MoeDown1Args } from './moe-down1.js';
import { ticketBuffer } from './tickets.js';

/** The deferred tail of a layer: moe_down1_res's arguments but resid and out, and the layer's output tensor. */
export interface DeferredMoeDown {
  args: Omit<MoeDown1Args, 'resid' | 'out'>;
  out: CudaTensor; // [1, H]
}

/** The router's last-block ticket: one int, zero between launches (the kernel resets it). */
const ticket = (c: CudaCtx): number => ticketBuffer(c, 'moeLayer', 1);
/** moe_router_up1's router-row counter: zero between launches (moe_down1_res zeroes it). */
const arrive = (c: CudaCtx): number => ticketBuffer(c, 'moeRouterUp', 1);

/**
 * moe_up1's persistent grid over M rows: 8 blocks per SM (its 64 registers let 8 be resident; __launch_bounds__ with
 * 8 made ptxas spill), more warps and rows in flight than the 7 of the gemv1 kernels: 2.337 against 2.379 ms per
 * batch-1 step on an H200 (bench/sweeps/up-grid.json). Tuning: NEMOTRON_CUDA_UP_PER_SM, and
 * NEMOTRON_CUDA_UP_BALANCE=1 for the fewest full rounds (4 rounds of 928 blocks at the Nano shape: 2.378 ms).
 */
export function upGrid(c: CudaCtx, M: number, H: number): number {
  const knob = Number(process.env.NEMOTRON_CUDA_UP_PER_SM ?? 8);
  if (!Number.isInteger(knob) || knob < 1 || knob > 8) throw new Error(`NEMOTRON_CUDA_UP_PER_SM: expected 1-8, got "${process.env.NEMOTRON_CUDA_UP_PER_SM}"`);
  const perSm = Math.min(knob, c.kernels.resident('moe_up1_l12', 128, H * 4)); // 8 at 64 registers
  const grid = Math.max(1, Math.min(Math.ceil(M / 4), c.dev.info.multiprocessors * perSm));
  if (process.env.NEMOTRON_CUDA_UP_BALANCE !== '1') return grid;
  const rounds = Math.ceil(M / (4 * grid));
  return Math.max(1, Math.ceil(M / (4 * rounds)));
}

/**
 * The grid of moe_router_up1 (variant of `perSm` resident blocks per SM: 6 or 7), or 0 when it cannot run this
 * layer: its warps wait on each other, so the whole grid must be resident at once, and the E router warps must
 * leave other warps for the up rows.
 */
export function routerUpGrid(c: CudaCtx, rows: number, E: number, perSm: 6 | 7): number {
  const cap = c.dev.info.multiprocessors * perSm;
  const grid = Math.max(persistentGrid(c, rows, perSm), E / 4 + 1);
  return E % 4 || E > 128 || grid > cap ? 0 : grid;
}

/** Whether the three kernels take this layer: bf16 weights of the shapes they read, one token. */
function applies(x: CudaTensor, gate: CudaTensor, dims: RouteDims, up: readonly CudaTensor[], down: readonly CudaTensor[], upS: CudaTensor, downS: CudaTensor): boolean {
  const H = x.cols;
  const I = up[0]?.shape[0] ?? 0;
  const Is = upS.shape[0];
  if (x.rows !== 1 || H % 8 || H > 3072 || dims.experts > 256 || dims.topK > 32 || dims.nGroup > 32 || !moeDown1Lanes(I) || Is % I) return false;
  if (gate.dtype !== 'bf16' || !gate.contiguous || gate.shape[0] !== dims.experts || gate.shape[1] !== H) return false;
  if (upS.dtype !== 'bf16' || downS.dtype !== 'bf16' || !upS.contiguous || !downS.contiguous || upS.shape[1] !== H || downS.shape[0] !== H || downS.shape[1] !== Is) return false;
  if (up.length !== dims.experts || down.length !== dims.experts) return false;
  return up.every((w, e) => w.dtype === 'bf16' && down[e].dtype === 'bf16' && w.shape[0] === I && w.shape[1] === H && down[e].shape[0] === H && down[e].shape[1] === I);
}

/**
 * Launches the head of the layer (router + shared up, routed up) and returns the deferred tail, or null when the
 * kernels do not take this layer (nothing launched). `norm`: the layer input is that deferred RMSNorm's output x.
 */
export function moeLayer1(
  c: CudaCtx, x: CudaTensor, norm: DeferredNorm | null, gate: CudaTensor, bias: CudaTensor, dims: RouteDims,
  up: readonly CudaTensor[], down: readonly CudaTensor[], upS: CudaTensor, downS: CudaTensor,
): DeferredMoeDown | null {
  c.live(x, gate, bias, upS, downS);
  if (!applies(x, gate, dims, up, down, upS, downS) || (!norm && (!x.contiguous || x.ptr % 16))) return null;
  const { experts: E, topK: K } = dims;
  const H = x.cols;
  const I = up[0].shape[0];
  const Is = upS.shape[0];
  const logits = c.alloc([1, E]);
  const ids = c.alloc([1, K], 'i32');
  const wts = c.alloc([1, K]);
  const act = c.alloc([1, Is + K * I]); // [Is | K * I]
  const xin = norm ? norm.out.ptr : x.ptr; // the up rows read the row that the first kernel's block 0 wrote
  const normArgs = norm ? [norm.a, norm.b || null, norm.h || null, norm.w, norm.eps, norm.out.ptr] : [x.ptr, null, null, null, 0, null];
  const sel = [dims.nGroup, dims.topkGroup, dims.normTopkProb ? 1 : 0, dims.scale];
  const tail = { act: act.ptr, ids: ids.ptr, wts: wts.ptr, downTable: pointerTable(c, down), downS, K, I };
  const perSm = process.env.NEMOTRON_CUDA_ROUTER_UP_BLOCKS === '7' ? 7 : 6;
  const grid = process.env.NEMOTRON_CUDA_MOE_LAYER === 'fused' ? routerUpGrid(c, E + Is + K * I, E, perSm) : 0;
  if (grid) {
    // router rows and up rows in one kernel (moe_router_up1); moe_down1_res zeroes its counter. On an H200: 2.386 ms
    // per batch-1 step, as the split path (7 blocks per SM: 2.547); the routed rows still wait for the router
    // rows, now inside the kernel (bench/sweeps/router-up.json)
    c.kernels.launch(`moe_router_up1_l12_b${perSm}`, grid, 128, [
      ...normArgs, gate.ptr, c.f32(bias).ptr, logits.ptr, arrive(c), ids.ptr, wts.ptr, pointerTable(c, up), upS.ptr, act.ptr, E, K, H, I, Is, ...sel,
    ], H * 4);
    return { args: { ...tail, clear: arrive(c) }, out: c.alloc([1, H]) };
  }
  if (norm && E <= 128 && process.env.NEMOTRON_CUDA_MOE_TOPK_IN_UP === '1') {
    // tuning alternative: the router writes logits only; every warp of moe_up1_topk selects the experts beside its
    // first (shared) rows. The same 2.40 ms per step as the router's own top-k on an H200: that tail was already
    // hidden behind the next kernel's early loads
    c.kernels.launch('router_logits_norm_bf16', Math.ceil(E / 2), 256, [...normArgs, gate.ptr, logits.ptr, H, E], H * 4);
    c.kernels.launch('moe_up1_topk_l12', gemv1Grid(c, Is + K * I, 12), 128, [
      xin, logits.ptr, c.f32(bias).ptr, ids.ptr, wts.ptr, pointerTable(c, up), upS.ptr, act.ptr, K, H, I, Is, E, ...sel, gemv1Pre(),
    ], H * 4);
    return { args: tail, out: c.alloc([1, H]) };
  }
  // the router on its own (64 blocks; about 9.7 us per layer on the critical path in a traced step), then every up
  // row in moe_up1, whose first (shared) rows load while the router runs
  const route = [gate.ptr, c.f32(bias).ptr, logits.ptr, ids.ptr, wts.ptr, ticket(c)];
  if (norm) c.kernels.launch('router_topk_norm_bf16', Math.ceil(E / 2), 256, [...normArgs, ...route, H, E, K, ...sel], H * 4);
  else c.kernels.launch('router_topk_bf16', Math.ceil(E / 2), 256, [x.ptr, x.ld, ...route, 1, H, E, K, ...sel]);
  c.kernels.launch('moe_up1_l12', upGrid(c, Is + K * I, H), 128, [xin, ids.ptr, pointerTable(c, up), upS.ptr, act.ptr, K, H, I, Is, gemv1Pre(), E], H * 4);
  return { args: tail, out: c.alloc([1, H]) };
}

/** Launches the deferred tail: out = resid + layer output (resid 0: the layer output alone, into d.out). */
export function launchMoeDown(c: CudaCtx, d: DeferredMoeDown, resid: number, out: number): void {
  if (!moeDown1Res(c, { ...d.args, resid: resid || null, out })) throw new Error('moeLayer: moe_down1_res declined a layer it was planned for');
}
