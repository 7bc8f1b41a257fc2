/**
 * Routed experts (model-spec 5) as grouped GEMMs on tensor cores, entirely on the device (kernels/moe_gemm.cu):
 * the routing is turned into per-expert row ranges and a tile list by a kernel, every grid is sized for the
 * worst-case routing (surplus blocks exit), and nothing is read back to the host, so the same launches serve eager
 * prefill and captured/replayed decode graphs. Per call: route -> x to bf16 (hi, + lo in precise mode) -> up GEMM
 * with relu^2 fused (bf16 hi/lo activations, rows sorted by expert) -> down GEMM (f32 rows) -> weighted sum per
 * token in slot order (deterministic).
 */
import type { CudaCtx, CudaTensor, DType } from '../tensor.js';

/** Tile shapes: 's' 16 x 64 (decode: few rows per expert, streams each active expert's weights once), 'm' 64 x 128, 'l' 128 x 128 (prefill). */
export type MoeTile = 's' | 'm' | 'l';

/** Rows (BM) and columns (BN) per tile, threads per block, tiles per rasterisation group; must match moe_gemm.cu. */
const SHAPES: Record<MoeTile, { bm: number; bn: number; threads: number; gm: number }> = {
  s: { bm: 16, bn: 64, threads: 128, gm: 8 },
  m: { bm: 64, bn: 128, threads: 256, gm: 8 },
  l: { bm: 128, bn: 128, threads: 256, gm: 16 },
};

/** Whether moeGroupedExperts handles these experts: bf16 weights, H and I multiples of 8, 1..256 experts. */
export function moeGroupedApplies(dtype: DType, E: number, H: number, I: number): boolean {
  return dtype === 'bf16' && E >= 1 && E <= 256 && H > 0 && I > 0 && H % 8 === 0 && I % 8 === 0;
}

/** The tile shape for NK (token, slot) pairs over E experts, by the average rows per expert. */
export function moeTileFor(NK: number, E: number): MoeTile {
  const avg = NK / E;
  return avg <= 12 ? 's' : avg <= 64 ? 'm' : 'l';
}

export interface MoeGroupedArgs {
  /** Activations [N, H] float32 (row stride x.ld). */
  x: CudaTensor;
  /** Expert ids, int32 [N, K] (device address); ids outside [0, E) contribute nothing. */
  ids: number;
  /** Routing weights, float32 [N, K] contiguous (device address). */
  wts: number;
  /** Device tables of E expert weight pointers (u64): up[e] bf16 [I, H] and down[e] bf16 [H, I], row-major. */
  upTable: number;
  downTable: number;
  /** Output, float32 [N, H] contiguous (device address); every element is written. */
  out: number;
  K: number;
  E: number;
  I: number;
  /** Activations as bf16 hi + lo parts (two mmas per step, ~float32-accurate) instead of bf16-rounded. */
  precise: boolean;
  /** Tile shape (default moeTileFor(N K, E)). */
  tile?: MoeTile;
}

/** Bytes of scratch moeGroupedExperts takes for N tokens. */
export function moeGroupedScratchBytes(N: number, K: number, E: number, H: number, I: number, precise: boolean, tile?: MoeTile): number {
  const NK = N * K;
  const t = SHAPES[tile ?? moeTileFor(NK, E)];
  const r = (b: number) => Math.ceil(Math.max(b, 1) / 256) * 256;
  const parts = precise ? 2 : 1;
  return parts * r(N * H * 2) + 2 * r(NK * 4) + r(maxTiles(NK, E, t.bm) * 16) + r(4) + parts * r(NK * I * 2) + r(NK * H * 4);
}

function maxTiles(NK: number, E: number, bm: number): number {
  return Math.ceil(NK / bm) + Math.min(E, NK); // sum over experts of ceil(rows_e / bm)
}

/**
 * out[n] = sum_k wts[n, k] * down_e . relu(up_e . x[n])^2 with e = ids[n, k], for N = x.rows tokens. Launches only
 * (graph-capturable: no host read-back, grids depend on N, K, E, H, I only); temporaries come from `scratch`
 * (about N (2 or 4) H + N K (8 + (2 or 4) I + 4 H) bytes, see moeGroupedScratchBytes). Returns false, launching
 * nothing, when the shapes do not fit (see moeGroupedApplies, with the dtype checked by the caller).
 */
export function moeGroupedExperts(c: CudaCtx, a: MoeGroupedArgs, scratch: (bytes: number) => number): boolean {
  const { x, K, E, I, precise } = a;
  const N = x.rows;
  const H = x.cols;
  if (!moeGroupedApplies('bf16', E, H, I) || x.dtype !== 'f32' || K < 1) return false;
  if (N === 0) return true;
  const NK = N * K;
  const tile = a.tile ?? moeTileFor(NK, E);
  const { bm, bn, threads, gm } = SHAPES[tile];
  const T = maxTiles(NK, E, bm);
  const xHi = scratch(N * H * 2);
  const xLo = precise ? scratch(N * H * 2) : null;
  const perm = scratch(NK * 4); // sorted row -> pair
  const inv = scratch(NK * 4); // pair -> sorted row
  const tiles = scratch(T * 16); // int4 {expert, first sorted row, rows, -}
  const numTiles = scratch(4);
  const actHi = scratch(NK * I * 2); // relu(up . x)^2, sorted rows [NK, I]
  const actLo = precise ? scratch(NK * I * 2) : null;
  const rows = scratch(NK * H * 4); // down . act, sorted rows [NK, H]
  const p = precise ? '_p' : '';
  c.kernels.launch('moe_gemm_route', 1, 1024, [a.ids, NK, E, bm, perm, inv, tiles, numTiles]);
  c.kernels.launch('moe_gemm_x_bf16', c.blocks((N * H) / 8), 256, [x.ptr, x.ld, xHi, xLo, N, H]);
  c.kernels.launch(`moe_gemm_up_${tile}${p}`, T * Math.ceil(I / bn), threads, [xHi, xLo, perm, K, tiles, numTiles, a.upTable, actHi, actLo, H, I, gm]);
  c.kernels.launch(`moe_gemm_down_${tile}${p}`, T * Math.ceil(H / bn), threads, [actHi, actLo, tiles, numTiles, a.downTable, rows, I, H, gm]);
  c.kernels.launch('moe_gemm_combine', c.blocks((N * H) / 4), 256, [rows, inv, a.wts, a.out, N, K, H]);
  return true;
}
