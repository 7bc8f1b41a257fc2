/**
 * x [N, K] . W[M, K]^T. Few rows (decode): the GEMV kernels, which read each weight once and keep activations
 * in float32. Many rows: cuBLAS, bf16 tensor cores with float32 accumulation, activations rounded to bf16 (as HF
 * runs the model) or, in precise mode, split into bf16 hi + lo parts (two GEMMs, ~float32-accurate).
 */
import type { CudaCtx, CudaTensor } from '../tensor.js';

/**
 * Largest row count that takes the GEMV path (NEMOTRON_CUDA_GEMV_MAX_ROWS overrides it, for tuning runs). The
 * GEMV reads every activation row from L1 for each weight load, so it turns L1-bound as rows grow: at batch 8 on
 * an H200, cuBLAS made the decode step 8.8 ms against 11.4 ms (float32-accurate mode; 7.2 ms with bf16 activations).
 */
export const GEMV_MAX_ROWS = Number(process.env.NEMOTRON_CUDA_GEMV_MAX_ROWS ?? 4);

export function matmul(c: CudaCtx, x: CudaTensor, w: CudaTensor, opts: { precise?: boolean } = {}): CudaTensor {
  c.live(x, w);
  if (w.shape.length !== 2) throw new Error(`matmul: weight must be 2-D, got [${w.shape}]`);
  const [M, K] = w.shape;
  if (x.cols !== K) throw new Error(`matmul: x has ${x.cols} columns, weight [${w.shape}] expects ${K}`);
  if (x.dtype !== 'f32') throw new Error(`matmul: activations must be float32, got ${x.dtype}`);
  const N = x.rows;
  const out = c.alloc([...x.shape.slice(0, -1), M]);
  if (N === 0) return out;
  matmulInto(c, x, w, out.ptr, M, opts.precise ?? c.precise);
  return out;
}

/** Writes x . W^T into y (row stride M). */
export function matmulInto(c: CudaCtx, x: CudaTensor, w: CudaTensor, y: number, ldy: number, precise: boolean): void {
  const [M, K] = w.shape;
  const N = x.rows;
  if (N === 1 && gemv1(c, x.ptr, w, y)) return;
  if (N === 1 && w.dtype === 'bf16' && K % 8 === 0 && K <= 4096 && x.ptr % 16 === 0 && w.ptr % 16 === 0 && w.contiguous && process.env.NEMOTRON_CUDA_GEMV_N1_HY === '1') {
    // tuning, slower on an H200 (gemv.cu): half of each row through shared memory, one wave of blocks
    c.kernels.launch('gemv_bf16_n1_hy', Math.ceil(M / 8), 256, [x.ptr, w.ptr, y, K, M], 8 * 4096);
    return;
  }
  const ahead = process.env.NEMOTRON_CUDA_N1_AHEAD ?? 'after';
  if (N === 1 && w.dtype === 'bf16' && ahead !== '0' && K % 8 === 0 && x.ptr % 16 === 0 && w.ptr % 16 === 0 && w.contiguous) {
    // out_proj, o_proj: the first wave of blocks pulls the second wave's rows into L2 after its wait (gemv.cu):
    // 2.214-2.215 against 2.231-2.232 ms per batch-1 step on an H200 with gemv_bf16_n1 (bench/sweeps/s10-ahead.json;
    // before the wait: 2.219). NEMOTRON_CUDA_N1_AHEAD=0 (tuning) launches gemv_bf16_n1 instead.
    const firstWave = c.kernels.resident('gemv_bf16_n1w', 256) * c.dev.info.multiprocessors * 8; // rows
    c.kernels.launch('gemv_bf16_n1w', Math.ceil(M / 8), 256, [x.ptr, w.ptr, y, K, M, firstWave < M ? firstWave : 0]);
    return;
  }
  if (N <= GEMV_MAX_ROWS) {
    const variant = N === 1 ? 'n1' : N <= 4 ? 'n4' : 'n8';
    const name = `gemv_${w.dtype === 'bf16' ? 'bf16' : 'f32'}_${variant}`;
    c.kernels.launch(name, Math.ceil(M / 8), 256, [x.ptr, x.ld, w.ptr, y, ldy, N, K, M]);
    return;
  }
  if (w.dtype === 'f32') {
    c.blas.gemmF32(x.ptr, x.ld, w.ptr, y, ldy, N, K, M);
    return;
  }
  c.withScratch((scratch) => {
    const hi = scratch(N * K * 2);
    const lo = precise ? scratch(N * K * 2) : 0;
    c.kernels.launch('to_bf16_split', [Math.ceil(K / 256), N], 256, [x.ptr, x.ld, hi, lo || null, K]);
    c.blas.gemmBf16(hi, K, w.ptr, y, ldy, N, K, M);
    if (precise) c.blas.gemmBf16(lo, K, w.ptr, y, ldy, N, K, M, true);
  });
}

/** Resident blocks per SM of the gemv1 kernels (128 threads; 72 / 96 registers for 12 / 16 loads per lane). */
const GEMV1_BLOCKS_PER_SM: Record<12 | 16, number> = { 12: 7, 16: 5 };

/** Loads per lane (MAXL) of the gemv1 kernel that takes rows of K bf16, or 0 when none does. */
export function gemv1Lanes(K: number): 0 | 12 | 16 {
  if (K % 8 || K > 4096) return 0;
  return K <= 3072 ? 12 : 16;
}

/**
 * The persistent grid of a gemv1-family kernel over M rows: all resident blocks, or fewer per SM when
 * NEMOTRON_CUDA_GEMV1_PER_SM says so (tuning: room for the next kernel's blocks to start their loads early).
 */
export function gemv1Grid(c: CudaCtx, M: number, lanes: 12 | 16): number {
  return persistentGrid(c, M, Math.min(GEMV1_BLOCKS_PER_SM[lanes], c.kernels.resident(`gemv1_bf16_l${lanes}`, 128, 0)));
}

/**
 * A persistent grid of 4-warp blocks over M rows with at most `perSm` blocks per SM. NEMOTRON_CUDA_GEMV1_BALANCE=1
 * (tuning) spreads the rows evenly over the fewest rounds, so no last round runs a handful of warps.
 */
export function persistentGrid(c: CudaCtx, M: number, perSm: number): number {
  const cap = c.dev.info.multiprocessors * Math.min(perSm, Number(process.env.NEMOTRON_CUDA_GEMV1_PER_SM) || Infinity);
  const grid = Math.max(1, Math.min(Math.ceil(M / 4), cap));
  if (process.env.NEMOTRON_CUDA_GEMV1_BALANCE !== '1') return grid;
  const rounds = Math.ceil(M / (4 * grid));
  return Math.max(1, Math.ceil(M / (4 * rounds)));
}

/** Rows per warp that gemv1-family kernels pull into L2 ahead of their register loads (`pre`; tuning knob). */
export function gemv1Pre(): number {
  return Number(process.env.NEMOTRON_CUDA_GEMV1_PRE ?? 0);
}

/** Batch-1 bf16 GEMV through the persistent kernels (kernels/gemv1.cu); false when the shape does not fit them. */
function gemv1(c: CudaCtx, x: number, w: CudaTensor, y: number): boolean {
  const [M, K] = w.shape;
  const lanes = gemv1Lanes(K);
  // rows of more than 3072 (out_proj's 4096): the warp-per-row kernel measured faster (Nsight Compute, H200);
  // NEMOTRON_CUDA_GEMV1_L16=1 (tuning) sends them to gemv1_bf16_l16
  const l16 = lanes === 16 && process.env.NEMOTRON_CUDA_GEMV1_L16 === '1';
  if (w.dtype !== 'bf16' || !w.contiguous || (lanes !== 12 && !l16) || !lanes || x % 16 || w.ptr % 16) return false;
  c.kernels.launch(`gemv1_bf16_l${lanes}`, gemv1Grid(c, M, lanes), 128, [x, w.ptr, y, K, M, gemv1Pre()], K * 4);
  return true;
}

/**
 * x [1, K] times up to three bf16 weights [Mi, K] in one launch (gemv1x3_bf16_l12); null when that does not apply
 * (more rows, other dtypes, K over 3072, NEMOTRON_CUDA_GEMV1X3=0).
 */
export function matmulsOneRow(c: CudaCtx, x: CudaTensor, ws: readonly CudaTensor[]): CudaTensor[] | null {
  c.live(x, ...ws);
  if (process.env.NEMOTRON_CUDA_GEMV1X3 === '0' || x.rows !== 1 || x.dtype !== 'f32' || x.ptr % 16 || ws.length < 2 || ws.length > 3) return null;
  const K = x.cols;
  if (gemv1Lanes(K) !== 12 || ws.some((w) => w.shape.length !== 2 || w.shape[1] !== K || w.dtype !== 'bf16' || !w.contiguous || w.ptr % 16)) return null;
  const outs = ws.map((w) => c.alloc([1, w.shape[0]]));
  const M = ws.map((w) => w.shape[0]);
  const total = M.reduce((a, b) => a + b, 0);
  c.kernels.launch('gemv1x3_bf16_l12', gemv1Grid(c, total, 12), 128, [
    x.ptr, ws[0].ptr, ws[1].ptr, ws[2]?.ptr ?? null, outs[0].ptr, outs[1].ptr, outs[2]?.ptr ?? null, M[0], M[1], M[2] ?? 0, K, gemv1Pre(),
  ], K * 4);
  return outs;
}
