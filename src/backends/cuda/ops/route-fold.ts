/**
 * A batch-1 MoE layer whose router is folded into the GEMV before it (kernels/route_fold.cu): the deferred
 * one-row GEMV yo = Wo . y (out_proj or o_proj), the residual add hn = h + yo and the layer's RMSNorm run as
 * outproj_route (Wo's rows, the router sums r = F . y + G . (nw h), partial sums of hn^2) and moe_up1_route (inv,
 * logits, top-k and the staged row in every block, then the up rows); moe_down1_res follows as in moe-block1.ts.
 * One launch fewer per MoE layer, and no router latency chain between the GEMV and the expert rows.
 * NEMOTRON_CUDA_ROUTE_FOLD=0 turns it off.
 */
import type { RouteDims } from '../../../ops/ops.js';
import type { CudaCtx, CudaTensor } from '../tensor.js';
import type { DeferredNorm } from './fused-norm.js';
import { gemv1Pre, persistentGrid } from './matmul.js';
import { pointerTable } from './moe.js';
import type { DeferredMoeDown } from './moe-block1.js';
import { moeDown1Lanes } from './moe-down1.js';

/** A one-row GEMV not launched yet (CudaBackend.matmul defers it when a folded router may follow). */
export interface DeferredGemv {
  x: CudaTensor; // [1, K]
  w: CudaTensor; // bf16 [M, K]
  out: CudaTensor; // [1, M]
}

/** Whether a one-row GEMV may be deferred for a fold: bf16 rows of 3073-4096 columns (out_proj, o_proj). */
export function gemvFoldable(x: CudaTensor, w: CudaTensor): boolean {
  if (process.env.NEMOTRON_CUDA_ROUTE_FOLD === '0') return false;
  const [M, K] = w.shape;
  return x.rows === 1 && x.dtype === 'f32' && x.contiguous && x.ptr % 16 === 0 && w.shape.length === 2 && w.dtype === 'bf16' && w.contiguous && w.ptr % 16 === 0 &&
    K === x.cols && K % 8 === 0 && K > 3072 && K <= 4096 && M % 8 === 0 && M <= 3072;
}

const folds = new WeakMap<CudaTensor, Map<string, number>>();

/** F = (G diag(nw)) Wo, float32 [E, K], computed once per (Wo, G, nw) in an eager step; 0 when it cannot be now. */
function foldWeights(c: CudaCtx, wo: CudaTensor, gate: CudaTensor, nw: number): number {
  const key = `${gate.ptr}:${nw}`;
  let m = folds.get(wo);
  const hit = m?.get(key);
  if (hit) return hit;
  if (c.dev.mode !== 'eager') return 0; // a captured or dry step never computes it (one eager step comes first)
  const [E, H] = gate.shape;
  const K = wo.shape[1];
  const f = c.dev.pool.alloc(E * K * 4).ptr;
  c.kernels.launch('route_fold_weights', [Math.ceil(K / 256), E], 256, [gate.ptr, nw, wo.ptr, f, H, K]);
  if (!m) folds.set(wo, (m = new Map()));
  m.set(key, f);
  return f;
}

/**
 * Launches outproj_route and moe_up1_route for the layer whose input is the deferred norm `n` of h + g.out (g the
 * deferred GEMV), and returns the deferred tail; null (nothing launched) when the shapes do not fit.
 */
export function routeFoldLayer(
  c: CudaCtx, g: DeferredGemv, n: DeferredNorm, gate: CudaTensor, bias: CudaTensor, dims: RouteDims,
  up: readonly CudaTensor[], down: readonly CudaTensor[], upS: CudaTensor, downS: CudaTensor,
): DeferredMoeDown | null {
  c.live(g.x, g.w, g.out, gate, bias, upS, downS);
  const { experts: E, topK: K } = dims;
  const [H, Kin] = g.w.shape;
  const I = up[0]?.shape[0] ?? 0;
  const Is = upS.shape[0];
  if (n.b !== g.out.ptr || !n.a || !n.h || n.H !== H || H % 8 || H > 3072 || E > 128 || E % 8 || K > 32 || dims.nGroup > 32) return null;
  if (gate.dtype !== 'bf16' || !gate.contiguous || gate.shape[0] !== E || gate.shape[1] !== H || gate.ptr % 16) return null;
  if (!moeDown1Lanes(I) || Is % I || upS.dtype !== 'bf16' || downS.dtype !== 'bf16' || !upS.contiguous || !downS.contiguous || upS.shape[1] !== H || downS.shape[0] !== H || downS.shape[1] !== Is) return null;
  if (up.length !== E || down.length !== E || !up.every((w, e) => w.dtype === 'bf16' && down[e].dtype === 'bf16' && w.shape[0] === I && w.shape[1] === H && down[e].shape[0] === H && down[e].shape[1] === I)) return null;
  const F = foldWeights(c, g.w, gate, n.w);
  if (!F) return null;
  const nb0 = H / 8;
  const partial = c.alloc([nb0]);
  const r = c.alloc([E]);
  const ids = c.alloc([1, K], 'i32');
  const wts = c.alloc([1, K]);
  const act = c.alloc([1, Is + K * I]);
  c.kernels.launch('outproj_route', nb0 + E / 8, 256, [g.x.ptr, g.w.ptr, n.a, g.out.ptr, n.h, partial.ptr, F, gate.ptr, n.w, r.ptr, Kin, H, E]);
  c.kernels.launch('moe_up1_route_l12', persistentGrid(c, Is + K * I, 7), 128, [
    n.h, partial.ptr, nb0, r.ptr, n.w, n.eps, n.out.ptr, c.f32(bias).ptr, ids.ptr, wts.ptr, pointerTable(c, up), upS.ptr, act.ptr,
    K, H, I, Is, E, dims.nGroup, dims.topkGroup, dims.normTopkProb ? 1 : 0, dims.scale, gemv1Pre(),
  ], H * 4);
  return { args: { act: act.ptr, ids: ids.ptr, wts: wts.ptr, downTable: pointerTable(c, down), downS, K, I }, out: c.alloc([1, H]) };
}
