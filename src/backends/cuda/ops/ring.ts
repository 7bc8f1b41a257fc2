/**
 * Picks and sizes the ring kernels of kernels/gemv_ring.cu (batch-1 weight streaming with D rows per warp in
 * flight through shared memory, ring.cuh). Depth per kernel family comes from tuning knobs read at launch time:
 * NEMOTRON_CUDA_RING (all families), overridden by NEMOTRON_CUDA_RING_GEMV (rows up to 3072), _GEMV16 (3073-4096),
 * _UP (moe_up1), _DOWN (moe_down1_res); 0 keeps the register kernels (gemv1.cu, gemv.cu, moe_down1.cu).
 */
import type { CudaCtx } from '../tensor.js';

export type RingFamily = 'gemv' | 'gemv16' | 'up' | 'down';

/** The depths each family's kernels are built with, by loads per lane (gemv_ring.cu's instances). */
const BUILT: Record<RingFamily, Partial<Record<number, readonly number[]>>> = {
  gemv: { 12: [2, 3, 4] },
  gemv16: { 16: [2, 3] },
  up: { 12: [2, 3, 4] },
  down: { 8: [2, 3, 4], 12: [3] },
};

const PREFIX: Record<RingFamily, string> = { gemv: 'gemv_ring', gemv16: 'gemv_ring', up: 'moe_up1_ring', down: 'moe_down1_ring' };

/** Default depth per family when no knob is set (measured on an H200, BENCHMARKS.md). */
const DEFAULT_DEPTH: Record<RingFamily, number> = { gemv: 0, gemv16: 0, up: 0, down: 0 };

const KNOB: Record<RingFamily, string> = {
  gemv: 'NEMOTRON_CUDA_RING_GEMV', gemv16: 'NEMOTRON_CUDA_RING_GEMV16', up: 'NEMOTRON_CUDA_RING_UP', down: 'NEMOTRON_CUDA_RING_DOWN',
};

/** The depth in use for a family: its own knob, else NEMOTRON_CUDA_RING, else the measured default. */
export function ringDepth(family: RingFamily): number {
  const v = process.env[KNOB[family]] ?? process.env.NEMOTRON_CUDA_RING;
  if (v === undefined || v === '') return DEFAULT_DEPTH[family];
  const d = Number(v);
  if (!Number.isInteger(d) || d < 0) throw new Error(`${KNOB[family]} / NEMOTRON_CUDA_RING: expected a ring depth (0 = off), got "${v}"`);
  return d;
}

/** A ring kernel of this family for rows of `lanes` loads per lane at the knob's depth, or null (off or not built). */
export function ringKernel(family: RingFamily, lanes: number): { name: string; depth: number } | null {
  const depth = ringDepth(family);
  if (!depth || !BUILT[family][lanes]?.includes(depth)) return null;
  return { name: `${PREFIX[family]}_l${lanes}_d${depth}`, depth };
}

/** Dynamic shared memory of a 4-warp ring block: D slots of lanes * 512 bytes per warp. */
export function ringShmem(lanes: number, depth: number): number {
  return 4 * depth * lanes * 512;
}

/** Shared memory per SM when the device info lacks it (sm_90: 228 KB). */
const SHARED_PER_SM = 228 * 1024;

/**
 * The persistent grid of a ring kernel over `units` (rows, or outputs for moe_down1_res): at most the blocks that
 * fit per SM by shared memory (1 KB reserved per block; cap NEMOTRON_CUDA_RING_PER_SM), then balanced so that every
 * warp walks the same number of units (no partial last round).
 */
export function ringGrid(c: CudaCtx, units: number, shmem: number): number {
  const per = c.dev.info.sharedPerSm ?? SHARED_PER_SM;
  const perSm = Math.max(1, Math.min(16, Math.floor(per / (shmem + 1024)), Number(process.env.NEMOTRON_CUDA_RING_PER_SM) || Infinity));
  const warps = c.dev.info.multiprocessors * perSm * 4;
  const rounds = Math.max(1, Math.ceil(units / warps));
  return Math.max(1, Math.ceil(Math.ceil(units / rounds) / 4));
}
